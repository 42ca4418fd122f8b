"""runner.install: migration ledger, idempotency, refusal of edited migrations, concurrent installs."""

import re
import shutil
import threading
from pathlib import Path

import psycopg
import pytest

import runner


def ledger(dsn: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT version, name, sha256, applied_at FROM mlops.schema_migrations ORDER BY 1"
        ).fetchall()


def catalog_snapshot(dsn: str) -> list[tuple]:
    """Every relation, constraint and routine of schema mlops, with its definition."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            """
            SELECT 'rel', c.relname, c.relkind::text FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace
            UNION ALL
            SELECT 'con', conname, pg_get_constraintdef(oid) FROM pg_constraint
             WHERE connamespace = 'mlops'::regnamespace
            UNION ALL
            SELECT 'fn', p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p
             WHERE p.pronamespace = 'mlops'::regnamespace AND p.prokind IN ('f', 'p')
            ORDER BY 1, 2, 3
            """
        ).fetchall()


def test_install_records_every_migration_in_ledger(empty_dsn: str) -> None:
    report = runner.install(empty_dsn)
    migrations = runner.read_migrations(runner.SQL_DIR)
    assert report.applied == [m.path.name for m in migrations]
    assert [(v, n, s) for v, n, s, _ in ledger(empty_dsn)] == [(m.version, m.name, m.sha256) for m in migrations]


def test_second_install_changes_nothing(empty_dsn: str) -> None:
    runner.install(empty_dsn)
    before = (ledger(empty_dsn), catalog_snapshot(empty_dsn))
    report = runner.install(empty_dsn)
    assert report.applied == []
    assert report.summary().startswith("no pending migrations")
    assert (ledger(empty_dsn), catalog_snapshot(empty_dsn)) == before


def test_install_up_to_version_then_rest(empty_dsn: str) -> None:
    assert runner.install(empty_dsn, up_to=1).applied == ["0001_package_tables.sql"]
    assert [row[0] for row in ledger(empty_dsn)] == [1]
    assert runner.install(empty_dsn).applied[0] == "0002_rule_owners_and_archive_privacy.sql"


def test_install_refuses_edited_applied_migration(empty_dsn: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(runner.SQL_DIR, sql_dir)
    runner.install(empty_dsn, sql_dir=sql_dir)
    before = catalog_snapshot(empty_dsn)
    edited = sql_dir / "migrations" / "0001_package_tables.sql"
    edited.write_text(edited.read_text() + "\n-- a later edit\n")
    with pytest.raises(
        runner.MigrationError, match=re.escape("0001_package_tables.sql was changed after it was applied")
    ):
        runner.install(empty_dsn, sql_dir=sql_dir)
    assert catalog_snapshot(empty_dsn) == before


def test_install_refuses_when_applied_migration_file_is_missing(empty_dsn: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(runner.SQL_DIR, sql_dir)
    runner.install(empty_dsn, sql_dir=sql_dir)
    (sql_dir / "migrations" / "0002_rule_owners_and_archive_privacy.sql").unlink()
    with pytest.raises(
        runner.MigrationError, match=r"migration 0002 \(0002_rule_owners_and_archive_privacy\) is applied"
    ):
        runner.install(empty_dsn, sql_dir=sql_dir)


def test_install_refuses_misnamed_migration(empty_dsn: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(runner.SQL_DIR, sql_dir)
    (sql_dir / "migrations" / "5_Oops.sql").write_text("SELECT 1;")
    with pytest.raises(runner.MigrationError, match=re.escape("5_Oops.sql: migration files are named NNNN_what.sql")):
        runner.install(empty_dsn, sql_dir=sql_dir)


def test_failed_migration_leaves_no_trace(empty_dsn: str, tmp_path: Path) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(runner.SQL_DIR, sql_dir)
    (sql_dir / "migrations" / "0099_broken.sql").write_text(
        "CREATE TABLE mlops.half_done (id int);\nALTER TABLE mlops.no_such_table ADD COLUMN x int;\n"
    )
    with pytest.raises(psycopg.errors.UndefinedTable):
        runner.install(empty_dsn, sql_dir=sql_dir)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass('mlops.half_done')").fetchone()[0] is None
    assert 99 not in [row[0] for row in ledger(empty_dsn)]


def test_concurrent_installs_apply_each_migration_once(empty_dsn: str) -> None:
    errors: list[BaseException] = []

    def install() -> None:
        try:
            runner.install(empty_dsn)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=install) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [row[0] for row in ledger(empty_dsn)] == [m.version for m in runner.read_migrations(runner.SQL_DIR)]


def test_cli_install_twice(empty_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    count = len(runner.read_migrations(runner.SQL_DIR))
    assert runner.main(["install", "--dsn", empty_dsn]) == 0
    assert f"applied {count} migration(s)" in capsys.readouterr().out
    assert runner.main(["install", "--dsn", empty_dsn]) == 0
    assert f"no pending migrations ({count} already applied); schema unchanged" in capsys.readouterr().out


def test_cli_without_database_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    for name in ("DATABASE_URL", "PGHOST", "PGDATABASE", "PGSERVICE", "PGPORT", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    assert runner.main(["install"]) == 1
    assert "error: no database given: pass --dsn URL" in capsys.readouterr().err


def test_cli_reports_database_error_without_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["audit", "--dsn", "postgresql://nobody@127.0.0.1:1/none"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
