"""Upgrading a database installed from the first release (main at 66845f2): re-based onto today's migration history,
its package the same as a fresh install's, its data and merges kept and undoable; partial or edited installs refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
from helpers import package_catalog

import runner

RELEASE_DUMP = Path(__file__).parent / "fixtures" / "release_66845f2.sql"


def load_release(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(RELEASE_DUMP.read_text())


def fresh_platform_install(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        runner.create_platform_schema(conn)
    runner.install(dsn)
    runner.adopt_platform(dsn)


@pytest.fixture
def second_empty_dsn(server: runner.EmbeddedPostgresql, admin_dsn: str):
    from conftest import _new_database

    yield from _new_database(server, admin_dsn, "template0")


def test_upgrade_from_first_release_equals_fresh_install(empty_dsn: str, second_empty_dsn: str) -> None:
    load_release(empty_dsn)
    report = runner.install(empty_dsn)
    assert report.rebased is not None and "re-based the first release's migration ledger" in report.rebased
    assert report.applied == [m.path.name for m in runner.read_migrations(runner.SQL_DIR)[1:]]
    runner.adopt_platform(empty_dsn)  # adopted already by the first release: changes nothing
    fresh_platform_install(second_empty_dsn)
    upgraded, fresh = package_catalog(empty_dsn), package_catalog(second_empty_dsn)
    assert [row for row in upgraded if row not in fresh] == []
    assert [row for row in fresh if row not in upgraded] == []


def test_upgrade_keeps_data_and_merges_stay_undoable(empty_dsn: str) -> None:
    load_release(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        before = conn.execute("SELECT count(*) FROM mlops.merges WHERE undone_at IS NULL").fetchone()[0]
    runner.install(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.merges WHERE undone_at IS NULL").fetchone()[0] == before == 3
        (merge_id,) = conn.execute(
            "SELECT merge_id FROM mlops.merges WHERE target = 'mlops.cover_letter_samples'::regclass"
        ).fetchone()
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
        assert conn.execute(
            "SELECT count(*) FROM mlops.cover_letter_samples WHERE merged_into IS NULL AND deleted_at IS NULL"
        ).fetchone() == (2,)
        conn.commit()
    # and the upgraded rules detect and merge again, through their compiled evaluators
    runner.merge(empty_dsn, "mlops.cover_letter_samples")
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.cover_letter_samples WHERE merged_into IS NULL").fetchone() == (
            1,
        )


def test_second_install_after_upgrade_changes_nothing(empty_dsn: str) -> None:
    load_release(empty_dsn)
    runner.install(empty_dsn)
    before = package_catalog(empty_dsn)
    report = runner.install(empty_dsn)
    assert report.rebased is None and report.applied == []
    assert package_catalog(empty_dsn) == before


def test_partial_first_release_install_is_refused(empty_dsn: str) -> None:
    load_release(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM mlops.schema_migrations WHERE version >= 6")
        conn.execute("DROP TABLE mlops.duplicate_candidates, mlops.dedup_runs, mlops.dedup_rules CASCADE")
    before = package_catalog_rows(empty_dsn)
    with pytest.raises(runner.MigrationError, match=re.escape("holds a partial install of the first release")):
        runner.install(empty_dsn)
    assert package_catalog_rows(empty_dsn) == before


def test_edited_first_release_migration_is_refused(empty_dsn: str) -> None:
    load_release(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("UPDATE mlops.schema_migrations SET sha256 = repeat('0', 64) WHERE version = 3")
    with pytest.raises(
        runner.MigrationError, match="0003_validate_foreign_key_cascade of the first history was changed"
    ):
        runner.install(empty_dsn)
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.schema_migrations").fetchone() == (7,)


def test_first_release_platform_only_install_is_rebased_to_nothing(empty_dsn: str) -> None:
    """A first-release install stopped at --to 4 created only the platform's tables: today's install adds the
    package and leaves those tables as the user's."""
    load_release(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM mlops.schema_migrations WHERE version >= 5")
        conn.execute(
            "DROP TABLE mlops.duplicate_candidates, mlops.dedup_runs, mlops.dedup_rules, mlops.merge_moves,"
            " mlops.merge_archive, mlops.merges CASCADE"
        )
    report = runner.install(empty_dsn)
    assert report.applied == [m.path.name for m in runner.read_migrations(runner.SQL_DIR)]
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.cover_letter_samples").fetchone() == (2,)


def package_catalog_rows(dsn: str) -> list[tuple]:
    """Every relation and routine of schema mlops (works on a half-installed package too)."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT c.relname, c.relkind::text FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace"
            " UNION ALL SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid) FROM pg_proc p"
            " WHERE p.pronamespace = 'mlops'::regnamespace AND p.prokind IN ('f', 'p')"
            " UNION ALL SELECT version::text || name, sha256 FROM mlops.schema_migrations ORDER BY 1, 2"
        ).fetchall()


def test_first_release_rule_that_no_longer_compiles_is_reported_not_fatal(empty_dsn: str) -> None:
    """The first release ran rule text as the caller; today's checks refuse some of it (here a volatile function).
    Such a rule stays uncompiled and is named; the install itself goes through and detection refuses that rule."""
    load_release(empty_dsn)
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE mlops.dedup_rules SET exact_key = 'random()::text' WHERE target = 'mlops.job_postings'::regclass"
        )
    report = runner.install(empty_dsn)
    assert report.rules_compiled == ["mlops.cover_letter_samples"]
    assert len(report.rules_not_compiled) == 1
    assert report.rules_not_compiled[0].startswith("mlops.job_postings: dedup rule for mlops.job_postings: exact_key")
    assert "WARNING: rule not compiled, detection refuses it until it is re-written: mlops.job_postings" in (
        report.summary()
    )
    with psycopg.connect(empty_dsn) as conn, pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
        conn.execute("SELECT * FROM mlops.find_duplicates('mlops.job_postings')")
