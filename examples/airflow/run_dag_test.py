"""Run the example DAG once with Airflow's own test runner, dag.test(), against the database of a connection.

    AIRFLOW_CONN_MLOPS_DB=postgresql://user:pw@host:5432/db .venv-airflow/bin/python examples/airflow/run_dag_test.py

It uses a throwaway Airflow home (a SQLite metadata database, migrated first) unless AIRFLOW_HOME is set, and prints
one JSON line last: the DAG run's state, each task's state and the report task's XCom summary.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAGS = Path(__file__).resolve().parent / "dags"


def configure(home: Path) -> None:
    """Airflow reads its settings from the environment at import: set them before importing it."""
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")


def migrate() -> float:
    """`airflow db migrate` (dag.test() records the run and its task instances in the metadata database)."""
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def run_dag() -> dict:
    """dag.test() once; the run's state, its tasks' states and the report's XCom."""
    import importlib.util

    from airflow import settings
    from airflow.models.xcom import XComModel
    from airflow.sdk.serde import deserialize
    from sqlalchemy import select

    spec = importlib.util.spec_from_file_location("mlops_dedup_dag", DAGS / "mlops_dedup_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    started = time.monotonic()
    dag_run = dag.test()
    seconds = time.monotonic() - started
    with settings.Session() as session:
        tasks = {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances(session=session)}
        xcoms = session.scalars(
            select(XComModel).where(XComModel.dag_id == dag.dag_id, XComModel.run_id == dag_run.run_id)
        ).all()
        # rows of the SQL operators are stored as serialized tuples: serde turns them back (JSON prints them as lists)
        values = {f"{x.task_id}.{x.key}": deserialize(XComModel.deserialize_value(x)) for x in xcoms}
    return {"dag_run": str(dag_run.state), "run_id": dag_run.run_id, "tasks": tasks, "xcom": values, "seconds": seconds}


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    home = Path(os.environ.get("AIRFLOW_HOME") or tempfile.mkdtemp(prefix="airflow-home-"))
    configure(home)
    migrate_seconds = migrate()
    result = run_dag()
    result["migrate_seconds"] = migrate_seconds
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
