"""The example Airflow DAG (examples/airflow) run by Airflow's own test runner, dag.test(), in its own environment
(.venv-airflow, `make airflow`), against the embedded server with generated platform data: the duplicates are gone,
the report's XCom sums this DAG run's runs, and a rule that fails fails the merge and report tasks, naming the run
(the report fails too when the CALL failed before recording any run: the DAG run's state comes from its leaves)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from mlops_dedup import datagen

ROOT = Path(__file__).resolve().parent.parent
AIRFLOW_PYTHON = ROOT / ".venv-airflow" / "bin" / "python"
DRIVER = ROOT / "examples" / "airflow" / "run_dag_test.py"
TABLES = ("mlops.cover_letter_samples", "mlops.job_postings")
# live rows sharing the exact key of the platform's rules (normalized URL)
DUPLICATE_GROUPS = """
    SELECT count(*) FROM (
        SELECT mlops.normalize_url(t.url) FROM {table} AS t
        WHERE t.deleted_at IS NULL AND t.merged_into IS NULL AND t.url IS NOT NULL
        GROUP BY 1 HAVING count(*) > 1
    ) AS groups
"""


@pytest.fixture(scope="module", autouse=True)
def installed_package_is_the_checkouts() -> None:
    """.venv-airflow holds a copy of the package (`make airflow` installs it again when a file changes): a stale copy
    would test old SQL."""
    if not AIRFLOW_PYTHON.exists():
        pytest.fail(f"{AIRFLOW_PYTHON} is missing: `make airflow` builds Airflow's environment (make test does too)")
    where = subprocess.run(
        [str(AIRFLOW_PYTHON), "-c", "import mlops_dedup, pathlib; print(pathlib.Path(mlops_dedup.__file__).parent)"],
        check=True,
        capture_output=True,
        text=True,
        cwd="/",
    ).stdout.strip()
    installed = Path(where)
    checkout = ROOT / "mlops_dedup"
    stale = [
        str(path.relative_to(checkout))
        for path in checkout.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and (
            not (installed / path.relative_to(checkout)).is_file()
            or (installed / path.relative_to(checkout)).read_bytes() != path.read_bytes()
        )
    ]
    if stale:
        pytest.fail(f"the package in .venv-airflow differs from the checkout ({stale[:3]}…): run `make airflow`")


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Airflow home (SQLite metadata database) for the module's DAG runs: migrated once, by the first run."""
    return tmp_path_factory.mktemp("airflow-home")


def run_dag(airflow_home: Path, dsn: str, owner_dsn: str | None = None) -> tuple[dict, str]:
    """dag.test() of the example DAG with connection mlops_db pointing at dsn (and mlops_db_owner at owner_dsn, for
    the install task); its JSON result and its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}  # none of the caller's Airflow
    env |= {"AIRFLOW_HOME": str(airflow_home), "AIRFLOW_CONN_MLOPS_DB": dsn}
    if owner_dsn:
        env["AIRFLOW_CONN_MLOPS_DB_OWNER"] = owner_dsn
    done = subprocess.run(
        [str(AIRFLOW_PYTHON), str(DRIVER)], env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), output


def duplicate_groups(conn: psycopg.Connection) -> dict[str, int]:
    return {t: conn.execute(DUPLICATE_GROUPS.format(table=t)).fetchone()[0] for t in TABLES}


def merged_rows(conn: psycopg.Connection) -> int:
    return sum(conn.execute(f"SELECT count(*) FROM {t} WHERE merged_into IS NOT NULL").fetchone()[0] for t in TABLES)


def test_the_dag_merges_the_duplicates_and_reports_the_runs_in_xcom(airflow_home: Path, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        datagen.generate(conn, postings=60, letters=80, dup_fraction=0.3)
        before = duplicate_groups(conn)

    result, _ = run_dag(airflow_home, dsn)

    with psycopg.connect(dsn, autocommit=True) as conn:
        after = duplicate_groups(conn)
        merged = merged_rows(conn)
        runs = conn.execute("SELECT run_id, target::text, status FROM mlops.dedup_runs ORDER BY run_id").fetchall()
    assert all(n > 0 for n in before.values()), before
    assert after == dict.fromkeys(TABLES, 0)
    assert result["dag_run"] == "success"
    assert result["tasks"] == dict.fromkeys(("crawl", "install", "merge", "report", "check_alerts"), "success")
    summary = result["xcom"]["report.return_value"]
    assert summary["status"] == "succeeded"
    assert summary["rows_merged"] == merged > 0
    assert summary["run_ids"] == [run_id for run_id, _, _ in runs]
    assert sorted((r["target"], r["status"]) for r in summary["runs"]) == [(t, "succeeded") for t in sorted(TABLES)]
    # the open alerts: the generated data's duplicate rate (30%) is above the default limit
    with psycopg.connect(dsn) as conn:
        open_alerts = conn.execute("SELECT alert_id FROM mlops.alerts WHERE resolved_at IS NULL ORDER BY 1").fetchall()
    assert [row[0] for row in result["xcom"]["check_alerts.return_value"]] == [a for (a,) in open_alerts]
    assert open_alerts


def test_a_failed_rule_fails_the_merge_and_report_tasks_naming_the_run(airflow_home: Path, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        datagen.generate(conn, postings=60, letters=80, dup_fraction=0.3)
        conn.execute(  # the letters' rule raises at run time: that rule fails as a whole, the postings' rule runs
            "UPDATE mlops.dedup_rules SET exact_key = '(10 / (t.id - t.id))::text'"
            " WHERE target = 'mlops.cover_letter_samples'::regclass"
        )

    result, output = run_dag(airflow_home, dsn)

    with psycopg.connect(dsn, autocommit=True) as conn:
        (failed_run,) = conn.execute(
            "SELECT run_id FROM mlops.dedup_runs WHERE target = 'mlops.cover_letter_samples'::regclass"
            " AND status = 'failed' AND error_sqlstate = '22012'"
        ).fetchone()
        (postings_run,) = conn.execute(
            "SELECT run_id FROM mlops.dedup_runs WHERE target = 'mlops.job_postings'::regclass AND status = 'succeeded'"
        ).fetchone()
    named = f"run {failed_run} (mlops.cover_letter_samples)"
    assert result["dag_run"] == "failed"
    assert result["tasks"] == {
        "crawl": "success",
        "install": "success",
        "merge": "failed",
        "report": "failed",
        "check_alerts": "success",
    }
    summary = result["xcom"]["report.return_value"]
    assert (summary["status"], summary["errors"]) == ("failed", 1)
    assert summary["failed"] == [f"{named} failed: division by zero (SQLSTATE 22012)"]
    assert sorted(summary["run_ids"]) == sorted([failed_run, postings_run])
    assert f"mlops.merge_duplicates: 1 of its rules failed: {named}: division by zero" in output  # merge's error
    assert f"AirflowFailException: mlops.merge_duplicates failed: {named} failed: division by zero" in output


def test_a_merge_that_fails_before_recording_a_run_fails_the_report_too(airflow_home: Path, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(  # the CALL fails at its first run's INSERT: no run is recorded
            """
            CREATE FUNCTION public.refuse_runs() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'runs are refused today' USING ERRCODE = 'insufficient_privilege';
            END $$;
            CREATE TRIGGER refuse_runs BEFORE INSERT ON mlops.dedup_runs
                FOR EACH ROW EXECUTE FUNCTION public.refuse_runs();
            """
        )

    result, output = run_dag(airflow_home, dsn)

    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.dedup_runs").fetchone() == (0,)
    assert result["dag_run"] == "failed"
    assert (result["tasks"]["merge"], result["tasks"]["report"]) == ("failed", "failed")
    assert result["xcom"]["report.return_value"]["status"] == "nothing to merge"
    assert "runs are refused today" in output
    assert "AirflowFailException: merge failed (no run recorded): see the merge task's log" in output


@pytest.fixture
def operator_dsn(dsn: str) -> Iterator[str]:
    """A role that is not the owner, with what README's "Use it from Airflow" grants it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE ROLE dag_operator LOGIN")
        conn.execute("SELECT count(*) FROM mlops.grant_usage('dag_operator')")
        conn.execute(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON mlops.job_postings, mlops.cover_letter_samples,"
            " mlops.job_recommendations TO dag_operator"
        )
        conn.execute("GRANT SELECT, UPDATE ON mlops.user_interactions TO dag_operator")
    yield dsn.replace("postgres@", "dag_operator@", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:  # roles are the cluster's: gone before the database is
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'dag_operator'")
        conn.execute("DROP OWNED BY dag_operator")
        conn.execute("DROP ROLE dag_operator")


def test_the_dag_merges_as_a_granted_role_and_installs_as_the_owner(
    airflow_home: Path, dsn: str, operator_dsn: str
) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        datagen.generate(conn, postings=60, letters=80, dup_fraction=0.3)

    result, output = run_dag(airflow_home, operator_dsn, owner_dsn=dsn)

    with psycopg.connect(dsn, autocommit=True) as conn:
        after = duplicate_groups(conn)
        runs = conn.execute("SELECT status, run_by::text FROM mlops.dedup_runs ORDER BY run_id").fetchall()
    assert result["tasks"] == dict.fromkeys(("crawl", "install", "merge", "report", "check_alerts"), "success"), output[
        -4000:
    ]
    assert after == dict.fromkeys(TABLES, 0)
    assert runs == [("succeeded", "dag_operator")] * 2  # merged as the granted role, not the owner
    assert result["xcom"]["report.return_value"]["status"] == "succeeded"
