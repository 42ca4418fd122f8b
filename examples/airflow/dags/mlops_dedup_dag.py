"""Merge the crawl's duplicates after each crawl: an example DAG for Airflow 3 (copy it into your dags folder).

crawl >> install >> merge >> [report, check_alerts]

- crawl: a placeholder for your crawl. Put the tasks below after your own crawl task (or see the README for a
  separate DAG scheduled on an asset).
- install: installs or upgrades the SQL package (idempotent) through the owner's connection (it creates and alters
  the package's objects; see the README; drop this task if you install by hand).
- merge: CALL mlops.merge_duplicates() in autocommit through Airflow's Postgres connection. A rule that failed makes
  the CALL raise at its end, naming the failed runs, so this task fails with that message.
- report: this DAG run's runs from mlops.dedup_runs, summed up; the summary is its XCom return_value. Fails (without
  retrying) when a run failed or was cancelled, naming the runs, or when merge failed where no run records it.
- check_alerts: mlops.check_alerts() (the CALL already checked its own runs; this checks the rest, such as the
  review queue's age), then the open alerts (alert_id, kind, severity, target, run_id, message) to XCom. Also runs
  after a failure.
- report must stay a leaf (or fail a task after it): Airflow sets the DAG run's state from its leaf tasks, so a failed
  merge alone would leave the DAG run 'success'.

The connections (ids fixed where the DAG is parsed, env MLOPS_DEDUP_CONN_ID and MLOPS_DEDUP_OWNER_CONN_ID; not DAG
params, which whoever triggers a run could point at any connection Airflow holds):
- `mlops_db`: the role that merges (granted with `mlops-dedup grant ROLE`), for merge, report and check_alerts, e.g.
  AIRFLOW_CONN_MLOPS_DB='postgresql://dedup_operator:secret@db.example.com:5432/platform';
- `mlops_db_owner`: the package's owner, for install only (defaults to `mlops_db` when that connection is the owner).
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

import pendulum
from airflow.providers.common.sql.operators.sql import SQLExecuteQueryOperator
from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, TriggerRule, task
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)

DAG_ID = "mlops_dedup"
CONN_ID = os.environ.get("MLOPS_DEDUP_CONN_ID", "mlops_db")
OWNER_CONN_ID = os.environ.get("MLOPS_DEDUP_OWNER_CONN_ID", "mlops_db_owner")


def dedup_label(dag_id: str, run_id: str) -> str:
    """The application_name the merge session runs under: unique per DAG run, within PostgreSQL's 63 bytes.
    mlops.dedup_runs.application_name records it, so the report finds exactly this DAG run's runs."""
    return "mlops-dedup " + hashlib.sha256(f"{dag_id}\n{run_id}".encode()).hexdigest()[:16]


def owner_conn_id() -> str:
    """The connection install runs as: OWNER_CONN_ID when Airflow has it, else CONN_ID (one role does everything)."""
    from airflow.sdk import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        Connection.get(OWNER_CONN_ID)
    except AirflowNotFoundException:
        return CONN_ID
    return OWNER_CONN_ID


def libpq_dsn(conn_id: str) -> str:
    """A libpq connection string for an Airflow Postgres connection (host, port, login, password, schema as the
    database, and libpq options from its extras such as sslmode), built the way PostgresHook.get_conn() does.
    (PostgresHook.get_uri() gives SQLAlchemy's 'postgresql+psycopg://' URL, which libpq does not read.)"""
    from psycopg.conninfo import make_conninfo  # psycopg 3: mlops-dedup's own dependency

    hook = PostgresHook(postgres_conn_id=conn_id)
    conn = hook.connection
    extras = {k: v for k, v in conn.extra_dejson.items() if k not in hook.ignored_extra_options and k != "cursor"}
    return make_conninfo(
        host=conn.host or None,
        port=conn.port or None,
        user=conn.login or None,
        password=conn.password or None,
        dbname=conn.schema or None,
        **extras,
    )


with DAG(
    dag_id=DAG_ID,
    schedule="@daily",  # your crawl's schedule: these tasks run after the crawl
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # one merge at a time (the package also takes a lock per table)
    user_defined_macros={"dedup_label": dedup_label},
    tags=["mlops-dedup"],
) as dag:
    # Replace with your crawl, or put the tasks below after it in your crawl's DAG.
    crawl = EmptyOperator(task_id="crawl")

    @task
    def install() -> str:
        """Install or upgrade the SQL package (changes nothing when it is up to date), as the package's owner."""
        import mlops_dedup

        report = mlops_dedup.install(libpq_dsn(owner_conn_id()))
        log.info("%s", report.summary())
        return report.summary()

    merge = SQLExecuteQueryOperator(
        task_id="merge",
        conn_id=CONN_ID,
        autocommit=True,  # the procedure commits after each batch: a CALL inside a transaction block is refused
        sql=[
            "SET application_name = '{{ dedup_label(dag.dag_id, run_id) }}'",
            "CALL mlops.merge_duplicates()",
        ],
        hook_params={"enable_log_db_messages": True},  # the procedure's progress NOTICEs in the task log
        retries=0,  # a failed rule fails again the same way; see the report and fix the rule
    )

    @task(trigger_rule=TriggerRule.ALL_DONE, retries=0, multiple_outputs=False)
    def report(dag_run: Any = None, ti: Any = None) -> dict[str, Any]:
        """This DAG run's runs summed up (-> XCom return_value); fails when a run failed or was cancelled."""
        import mlops_dedup

        label = dedup_label(dag_run.dag_id, dag_run.run_id)
        # the latest CALL under the label: a merge task cleared and run again reports its last try
        summary = mlops_dedup.summarize(mlops_dedup.runs_by_application(libpq_dsn(CONN_ID), label))
        log.info(
            "mlops-dedup: %s; runs %s; %s rows merged, %s references moved, %s candidates queued",
            summary["status"],
            summary["run_ids"],
            summary["rows_merged"],
            summary["references_moved"],
            summary["candidates_queued"],
        )
        if summary["status"] in ("failed", "cancelled"):
            ti.xcom_push(key="return_value", value=summary)  # the summary is kept for a failed run too
            raise AirflowFailException(f"mlops.merge_duplicates {summary['status']}: " + "; ".join(summary["failed"]))
        states = ti.get_task_states(dag_id=dag_run.dag_id, task_ids=["merge"], run_ids=[dag_run.run_id])
        if states.get(dag_run.run_id, {}).get("merge") != "success":
            # the CALL failed where no run records it: before the first run, or after its runs (a lost connection)
            ti.xcom_push(key="return_value", value=summary)
            # (the latest CALL's runs under this DAG run: an earlier try's when this one recorded none)
            recorded = f"latest runs recorded: {summary['run_ids']}" if summary["run_ids"] else "no run recorded"
            raise AirflowFailException(f"merge failed ({recorded}): see the merge task's log")
        return summary

    check_alerts = SQLExecuteQueryOperator(
        task_id="check_alerts",
        conn_id=CONN_ID,
        trigger_rule=TriggerRule.ALL_DONE,  # after a failed run too: that is when alerts matter
        # the rules now (the CALL checked its own runs; this catches a run it could not, and the review queue), then
        # every open alert of the tables this role may change -> XCom (return_last: the last statement's rows)
        sql="SELECT count(*) FROM mlops.check_alerts();"
        " SELECT alert_id, kind, severity, target::text, run_id, message FROM mlops.alerts"
        " WHERE resolved_at IS NULL ORDER BY alert_id",
        split_statements=True,
        return_last=True,
        autocommit=True,
    )

    installed = install()
    crawl >> installed >> merge >> [report(), check_alerts]
