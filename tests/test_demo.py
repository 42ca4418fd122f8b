"""runner.py demo: never writes into the user's database unless asked, and can leave its throwaway server running."""

from __future__ import annotations

import gc
import shlex
import subprocess
from pathlib import Path

import psycopg
import pytest

import mlops_dedup.cli
import runner


def test_demo_refuses_a_database_that_is_not_empty(platform_dsn: str) -> None:
    with pytest.raises(runner.RunnerError, match=r"this database is not empty \(it holds mlops\.cover_letter_samples"):
        runner.run_demo(platform_dsn, postings=50, letters=50)
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute("SELECT to_regclass('mlops.schema_migrations')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM mlops.cover_letter_samples").fetchone() == (0,)


def test_demo_with_yes_adopts_the_platform_tables_it_finds(platform_dsn: str, capsys) -> None:
    runner.run_demo(platform_dsn, postings=60, letters=80, yes=True)
    out = capsys.readouterr().out
    assert "created the platform's tables" not in out  # they were there
    assert "install --platform" in out and "dedup rule declared" in out
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.dedup_runs WHERE status <> 'succeeded'").fetchone() == (0,)


def test_cli_demo_ignores_database_url_and_pg_variables(monkeypatch: pytest.MonkeyPatch, platform_dsn: str) -> None:
    """DATABASE_URL and PG* name the user's database; only an explicit --dsn moves the demo off its own server."""
    seen: list[tuple] = []
    monkeypatch.setenv("DATABASE_URL", platform_dsn)
    monkeypatch.setenv("PGDATABASE", "production")
    monkeypatch.setattr(mlops_dedup.cli, "run_demo", lambda dsn, keep, yes: seen.append((dsn, keep, yes)))
    assert runner.main(["demo"]) == 0
    assert runner.main(["demo", "--keep"]) == 0
    assert runner.main(["demo", "--dsn", platform_dsn, "--yes"]) == 0
    assert seen == [(None, False, False), (None, True, False), (platform_dsn, False, True)]


def test_kept_embedded_server_outlives_its_object_and_stops_as_printed() -> None:
    server = runner.EmbeddedPostgresql()
    url, base_dir = server.url(), Path(server.base_dir)
    message = server.keep_running()
    del server
    gc.collect()
    try:
        assert url in message
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        stop = message.splitlines()[-1].removeprefix("stop it and remove its files with: ")
        subprocess.run(["bash", "-c", stop], check=True, capture_output=True)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=2)
    assert not base_dir.exists()
    assert shlex.split(stop)  # a command a person can paste
