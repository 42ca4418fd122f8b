"""`pip install .` in a fresh virtualenv gives a working `mlops-dedup` command and an importable package whose SQL
comes with it; a wheel built from the checkout carries every SQL file (issue 14)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import psycopg
import pytest

import runner

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's files (tracked and new, not ignored) in a directory of their own: building writes build/ and
    *.egg-info beside the sources, which must not land in the checkout."""
    files = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    copy = tmp_path_factory.mktemp("source") / "mlops-dedup"
    for name in filter(None, (f.decode() for f in files)):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


@pytest.fixture(scope="module")
def installed(source_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with `pip install <checkout>`; returns its bin directory."""
    env_dir = tmp_path_factory.mktemp("venv")
    venv.create(env_dir, with_pip=True)
    bin_dir = env_dir / "bin"
    subprocess.run(
        [bin_dir / "python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source_copy)],
        check=True,
        capture_output=True,
        text=True,
    )
    return bin_dir


def run(bin_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # from another directory: nothing may come from the checkout
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DATABASE_URL")}
    return subprocess.run(
        [str(bin_dir / args[0]), *args[1:]], check=check, capture_output=True, text=True, cwd="/", env=environment
    )


def wheel_names(source: Path, out: Path) -> set[str]:
    """The files of a wheel built from source."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = out.glob("mlops_dedup-*.whl")
    return set(zipfile.ZipFile(wheel).namelist())


def test_the_wheel_carries_every_sql_file_and_the_console(source_copy: Path, tmp_path: Path) -> None:
    names = wheel_names(source_copy, tmp_path)
    expected = {f"mlops_dedup/{p.relative_to(runner.ROOT)}" for p in runner.SQL_DIR.rglob("*.sql")}
    assert expected and expected <= names
    assert {"mlops_dedup/platform/schema.sql", "mlops_dedup/webconsole/templates/review.html"} <= names
    assert "mlops_dedup/webconsole/static/console.css" in names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_a_routine_deleted_from_the_tree_is_not_in_the_next_wheel(source_copy: Path, tmp_path: Path) -> None:
    """install() applies every SQL file it finds: a build that kept a deleted one would bring it back."""
    stale = source_copy / "mlops_dedup" / "sql" / "functions" / "zz_deleted_routine.sql"
    stale.write_text("SELECT 1;\n")
    assert "mlops_dedup/sql/functions/zz_deleted_routine.sql" in wheel_names(source_copy, tmp_path / "first")
    stale.unlink()
    assert "mlops_dedup/sql/functions/zz_deleted_routine.sql" not in wheel_names(source_copy, tmp_path / "second")


def test_pip_install_gives_a_working_command(installed: Path, platform_dsn: str) -> None:
    assert "install,audit,merge,review,stats,undo" in run(installed, "mlops-dedup", "--help").stdout
    run(installed, "mlops-dedup", "install", "--platform", "--dsn", platform_dsn)
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mlops.cover_letter_samples (url, content) VALUES"
            " ('https://x.example.com/1', 'a letter'), ('https://www.x.example.com/1/', 'a letter')"
        )
        (installed_sql,) = conn.execute("SELECT count(*) FROM mlops.schema_migrations").fetchone()
    assert installed_sql == len(list(runner.SQL_DIR.glob("migrations/*.sql")))

    merged = run(installed, "mlops-dedup", "merge", "--json", "--dsn", platform_dsn)
    summary = json.loads(merged.stdout)
    assert (summary["status"], summary["errors"], summary["rows_merged"]) == ("succeeded", 0, 1)
    assert "NOTICE: run" in merged.stderr  # progress

    stats = json.loads(run(installed, "mlops-dedup", "stats", "--json", "--dsn", platform_dsn).stdout)
    assert {row["target"] for row in stats["dedup_stats"]} >= {"mlops.cover_letter_samples"}


def test_the_installed_package_is_importable_with_its_api(installed: Path, platform_dsn: str) -> None:
    script = "\n".join(
        [
            "import json, sys, mlops_dedup",
            "mlops_dedup.install(sys.argv[1])",
            "mlops_dedup.adopt_platform(sys.argv[1])",
            "runs = mlops_dedup.merge(sys.argv[1])",
            "print(json.dumps([mlops_dedup.summarize(runs)['status'], str(mlops_dedup.api.SQL_DIR)]))",
        ]
    )
    status, sql_dir = json.loads(run(installed, "python", "-c", script, platform_dsn).stdout)
    assert status == "succeeded"
    assert "site-packages/mlops_dedup/sql" in sql_dir  # the package's own copy, not the checkout's


def test_a_failed_run_makes_the_command_fail(installed: Path, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        # a rule whose key fails on the table's rows
        conn.execute("INSERT INTO mlops.cover_letter_samples (url, content) VALUES ('https://x.example.com/1', 'a')")
        conn.execute(
            "UPDATE mlops.dedup_rules SET exact_key = '(1 / 0)::text' WHERE target = %s::regclass",
            ("mlops.cover_letter_samples",),
        )
    result = run(installed, "mlops-dedup", "merge", "--json", "--dsn", dsn, check=False)
    assert result.returncode == 1
    summary = json.loads(result.stdout)
    assert summary["status"] == "failed" and summary["errors"] == 1
    assert "(mlops.cover_letter_samples) failed: division by zero" in result.stderr
    assert "Traceback" not in result.stderr
