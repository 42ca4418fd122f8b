"""The Python API (issue 14): merge returns this call's runs, progress goes to a callback or to logging, summarize gives
the batch manager's view (status, errors, counts), runs are found again by application_name, and Ctrl-C ends a merge
cleanly with the run recorded as cancelled."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

import mlops_dedup
import runner
from mlops_dedup import api

LETTERS = "mlops.cover_letter_samples"


@pytest.fixture
def duplicated(conn: psycopg.Connection) -> psycopg.Connection:
    """Letters 1/2 are the same page (one merge); 3 and 4 differ."""
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE VALUES"
        " (1, 'https://x.example.com/1', 'first letter'), (2, 'https://www.x.example.com/1/', 'first letter'),"
        " (3, 'https://x.example.com/3', 'alpha bravo'), (4, 'https://x.example.com/4', 'charlie delta')"
    )
    return conn


def test_the_package_exports_the_api_and_runner_is_the_same_api() -> None:
    assert mlops_dedup.merge is api.merge is runner.merge
    assert mlops_dedup.summarize is runner.summarize
    assert mlops_dedup.RunnerError is runner.RunnerError  # one class: an error raised anywhere is caught by main
    assert (api.SQL_DIR / "functions" / "merge_duplicates.sql").is_file()
    assert (api.PLATFORM_SCHEMA_FILE).is_file()


def test_merge_sends_progress_to_a_callback(duplicated: psycopg.Connection, dsn: str) -> None:
    seen: list[tuple[str, str]] = []
    runs = mlops_dedup.merge(dsn, LETTERS, progress=lambda severity, text: seen.append((severity, text)))
    (run,) = runs
    assert (run["target"], run["status"], run["rows_merged"]) == (LETTERS, "succeeded", 1)
    assert ("NOTICE", f"NOTICE: run {run['run_id']}: batch 1 of 1 (exact_key): merged 1 rows") in seen
    assert all(severity in ("NOTICE", "WARNING") for severity, _ in seen)


def test_merge_logs_progress_to_the_mlops_dedup_logger(
    duplicated: psycopg.Connection, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mlops_dedup"):
        (run,) = mlops_dedup.merge(dsn, LETTERS)
    notices = [r for r in caplog.records if r.name == "mlops_dedup" and r.levelno == logging.INFO]
    assert any(f"run {run['run_id']}: mlops.cover_letter_samples" in r.getMessage() for r in notices)


def test_errors_before_a_run_are_exceptions_with_the_sqlstate(dsn: str) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable) as raised:
        mlops_dedup.merge(dsn, "mlops.no_such_table")
    assert raised.value.sqlstate == "42P01" and "no_such_table" in raised.value.diag.message_primary


def test_summarize_gives_status_errors_and_counts(duplicated: psycopg.Connection, dsn: str) -> None:
    runs = mlops_dedup.merge(dsn)
    summary = mlops_dedup.summarize(runs)
    # the letters' losers are soft-deleted (the platform is adopted: deleted_at, merged_into)
    (merged, references, queued) = duplicated.execute(
        "SELECT 4 - (SELECT count(*) FROM mlops.cover_letter_samples WHERE deleted_at IS NULL),"
        " (SELECT count(*) FROM mlops.merge_moves), (SELECT count(*) FROM mlops.duplicate_candidates)"
    ).fetchone()
    assert merged == 1
    assert summary["status"] == "succeeded" and summary["errors"] == 0 and summary["failed"] == []
    assert summary["run_ids"] == [r["run_id"] for r in runs] and len(runs) == 2  # both platform rules
    assert (summary["rows_merged"], summary["references_moved"], summary["candidates_queued"]) == (
        merged,
        references,
        queued,
    )
    assert mlops_dedup.summarize([])["status"] == "nothing to merge"


def test_summarize_names_a_failed_run_with_its_sqlstate(duplicated: psycopg.Connection, dsn: str) -> None:
    # a rule whose key expression fails at run time: its run fails, the other rule runs
    duplicated.execute(
        "UPDATE mlops.dedup_rules SET exact_key = '(1 / 0)::text' WHERE target = %s::regclass", (LETTERS,)
    )
    runs = mlops_dedup.merge(dsn)
    summary = mlops_dedup.summarize(runs)
    (failed,) = [r for r in runs if r["status"] == "failed"]
    assert summary["status"] == "failed" and summary["errors"] == 1
    assert summary["failed"] == [f"run {failed['run_id']} ({LETTERS}) failed: division by zero (SQLSTATE 22012)"]
    assert any(r["status"] == "succeeded" for r in runs)


def test_runs_are_found_again_by_application_name(duplicated: psycopg.Connection, dsn: str) -> None:
    runs = mlops_dedup.merge(dsn + "?application_name=nightly%20dedup")
    assert [r["application_name"] for r in runs] == ["nightly dedup"] * len(runs)
    assert mlops_dedup.runs_by_application(dsn, "nightly dedup") == runs
    assert mlops_dedup.runs_by_application(dsn, "another job") == []


@pytest.fixture
def locked_letters(duplicated: psycopg.Connection, dsn: str) -> Iterator[psycopg.Connection]:
    """Another session holds the letters table: a merge waits on it until interrupted."""
    holder = psycopg.connect(dsn)
    holder.execute("LOCK TABLE mlops.cover_letter_samples IN ACCESS EXCLUSIVE MODE")
    yield holder
    holder.close()


@contextlib.contextmanager
def when_the_merge_waits(
    dsn: str, holder: psycopg.Connection, act: Callable[[psycopg.Connection, int], object]
) -> Iterator[None]:
    """Calls act(connection, pid) once a CALL of merge_duplicates in this test's database is blocked by the holder's
    lock; the watching thread is stopped and joined on the way out, whatever happened."""
    done = threading.Event()

    def watch() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            while not done.is_set():
                blocked = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND query LIKE 'CALL mlops.merge_duplicates%%'"
                    " AND pg_isolation_test_session_is_blocked(pid, ARRAY[%s])",
                    (holder.info.backend_pid,),
                ).fetchone()
                if blocked:
                    act(conn, blocked[0])
                    return
                done.wait(0.01)

    thread = threading.Thread(target=watch)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def interrupt_when_the_merge_waits(dsn: str, holder: psycopg.Connection) -> contextlib.AbstractContextManager[None]:
    """Sends this process SIGINT (Ctrl-C) once the merge waits on the holder's lock."""
    return when_the_merge_waits(dsn, holder, lambda conn, pid: os.kill(os.getpid(), signal.SIGINT))


def test_ctrl_c_during_merge_records_the_run_cancelled(
    locked_letters: psycopg.Connection, duplicated: psycopg.Connection, dsn: str
) -> None:
    with interrupt_when_the_merge_waits(dsn, locked_letters), pytest.raises(KeyboardInterrupt) as raised:
        mlops_dedup.merge(dsn, LETTERS)
    assert isinstance(raised.value, mlops_dedup.MergeCancelled)
    (run,) = raised.value.runs
    assert (run["status"], run["error_sqlstate"]) == ("cancelled", "57014")
    locked_letters.rollback()
    assert duplicated.execute("SELECT status FROM mlops.dedup_runs").fetchall() == [("cancelled",)]
    assert mlops_dedup.summarize(raised.value.runs)["status"] == "cancelled"
    # nothing is left running or locked: the next merge runs
    (again,) = mlops_dedup.merge(dsn, LETTERS)
    assert (again["status"], again["rows_merged"]) == ("succeeded", 1)


def test_ctrl_c_during_the_merge_command_exits_130_without_a_traceback(
    locked_letters: psycopg.Connection, duplicated: psycopg.Connection, dsn: str, capsys: pytest.CaptureFixture
) -> None:
    with interrupt_when_the_merge_waits(dsn, locked_letters):
        status = runner.main(["merge", "--dsn", dsn, "--target", LETTERS, "--json"])
    captured = capsys.readouterr()
    (run_id,) = duplicated.execute("SELECT run_id FROM mlops.dedup_runs WHERE status = 'cancelled'").fetchone()
    assert status == 130
    assert f"cancelled: run {run_id} ({LETTERS}) recorded as cancelled" in captured.err
    assert "Traceback" not in captured.err
    assert '"status": "cancelled"' in captured.out


def test_a_run_left_running_by_an_interrupt_is_marked_cancelled(dsn: str) -> None:
    """Where the procedure cannot catch the cancel, the runner marks its session's running runs."""
    with api.connect(dsn) as conn:
        (last,) = conn.execute("SELECT coalesce(max(run_id), 0) FROM mlops.dedup_runs").fetchone()
        conn.execute("INSERT INTO mlops.dedup_runs (target, dry_run, status) VALUES (%s, false, 'running')", (LETTERS,))
        api.cancel_running_runs(conn, last)
        assert conn.execute("SELECT status, error_sqlstate FROM mlops.dedup_runs").fetchall() == [
            ("cancelled", "57014")
        ]


def test_a_cancelled_run_neither_raises_nor_resolves_a_run_failed_alert(
    duplicated: psycopg.Connection, dsn: str
) -> None:
    rule = "UPDATE mlops.dedup_rules SET exact_key = %s WHERE target = %s::regclass"
    (key,) = duplicated.execute(
        "SELECT exact_key FROM mlops.dedup_rules WHERE target = %s::regclass", (LETTERS,)
    ).fetchone()
    duplicated.execute(rule, ("(1 / 0)::text", LETTERS))
    mlops_dedup.merge(dsn, LETTERS)
    open_alerts = "SELECT kind FROM mlops.alerts WHERE resolved_at IS NULL AND kind LIKE 'run_%' ORDER BY alert_id"
    assert duplicated.execute(open_alerts).fetchall() == [("run_failed",)]

    duplicated.execute(rule, (key, LETTERS))
    with psycopg.connect(dsn) as holder:
        holder.execute("LOCK TABLE mlops.cover_letter_samples IN ACCESS EXCLUSIVE MODE")
        with interrupt_when_the_merge_waits(dsn, holder), pytest.raises(mlops_dedup.MergeCancelled):
            mlops_dedup.merge(dsn, LETTERS)
    duplicated.execute("SELECT count(*) FROM mlops.check_alerts()")
    assert duplicated.execute(open_alerts).fetchall() == [("run_failed",)]  # a cancel tells nothing

    mlops_dedup.merge(dsn, LETTERS)
    assert duplicated.execute(open_alerts).fetchall() == []  # a run that did better resolves it


def test_a_merge_whose_connection_psycopg_closed_is_recorded_from_a_new_session(dsn: str) -> None:
    """A second Ctrl-C (or a CALL that did not end within 5 s of the cancel) makes psycopg close the connection: a new
    session ends the old backend if it still lives and marks its runs cancelled; the table's lock goes with it."""
    session = api.connect(dsn)  # the interrupted CALL's session: a run recorded, the table's lock held
    (last,) = session.execute("SELECT coalesce(max(run_id), 0) FROM mlops.dedup_runs").fetchone()
    session.execute("INSERT INTO mlops.dedup_runs (target, dry_run) VALUES (%s, false)", (LETTERS,))
    session.execute(
        "SELECT pg_advisory_lock(hashtext('mlops.merge_duplicates'), %s::regclass::oid::integer)", (LETTERS,)
    )
    closed = psycopg.connect(dsn)
    closed.close()

    runs = api.record_cancelled(closed, dsn, session.info.backend_pid, last)

    assert [(r["status"], r["error_sqlstate"]) for r in runs] == [("cancelled", "57014")]
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")  # its backend was ended
    with psycopg.connect(dsn) as conn:
        assert conn.execute(
            "SELECT pg_try_advisory_lock(hashtext('mlops.merge_duplicates'), %s::regclass::oid::integer)", (LETTERS,)
        ).fetchone() == (True,)


def test_ctrl_c_inside_a_progress_callback_still_cancels_the_merge(
    locked_letters: psycopg.Connection, dsn: str
) -> None:
    """psycopg runs notice handlers inside libpq's callback, where an exception is only printed: the relay keeps the
    interrupt and cancels the CALL, so the merge ends as cancelled instead of going on."""
    seen: list[str] = []

    def progress(severity: str, text: str) -> None:
        seen.append(text)
        raise KeyboardInterrupt  # as if Ctrl-C landed while the callback printed

    locked_letters.rollback()  # nothing waits: the first NOTICE of the run is where it is interrupted
    with pytest.raises(mlops_dedup.MergeCancelled) as raised:
        mlops_dedup.merge(dsn, LETTERS, progress=progress)
    assert seen
    # cancelled where it was, or before its run was committed (no run), or the CALL finished first
    assert {r["status"] for r in raised.value.runs} <= {"cancelled", "succeeded"}
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.dedup_runs WHERE status = 'running'").fetchone() == (0,)


def test_runs_by_application_reports_the_latest_call_under_the_name(duplicated: psycopg.Connection, dsn: str) -> None:
    """A task cleared and run again under the same application_name: its report is the last try's, not the first's."""
    named = dsn + "?application_name=dag%20run%207"
    duplicated.execute(
        "UPDATE mlops.dedup_rules SET exact_key = '(1 / 0)::text' WHERE target = %s::regclass", (LETTERS,)
    )
    first = mlops_dedup.merge(named, LETTERS)
    duplicated.execute(
        "UPDATE mlops.dedup_rules SET exact_key = 'mlops.normalize_url(t.url)' WHERE target = %s::regclass", (LETTERS,)
    )
    second = mlops_dedup.merge(named, LETTERS)
    assert [r["status"] for r in first + second] == ["failed", "succeeded"]
    assert mlops_dedup.runs_by_application(dsn, "dag run 7") == second
    assert mlops_dedup.runs_by_application(dsn, "dag run 7", every_call=True) == first + second


def test_merge_json_is_one_object_even_when_refused_before_any_run(dsn: str, capsys: pytest.CaptureFixture) -> None:
    assert runner.main(["merge", "--dsn", dsn, "--target", "mlops.user_interactions", "--json"]) == 1
    summary = json.loads(capsys.readouterr().out)
    assert (summary["status"], summary["errors"], summary["runs"]) == ("error", 1, [])
    assert summary["sqlstate"] and "no dedup rule for mlops.user_interactions" in summary["failed"][0]


def test_the_library_logs_nothing_unasked_and_main_leaves_logging_as_it_was(
    duplicated: psycopg.Connection, dsn: str, capsys: pytest.CaptureFixture
) -> None:
    logger = logging.getLogger("mlops_dedup")
    before = (list(logger.handlers), logger.level, logger.propagate)
    assert runner.main(["merge", "--dsn", dsn, "--target", LETTERS]) == 0
    assert "NOTICE: run" in capsys.readouterr().err
    assert (list(logger.handlers), logger.level, logger.propagate) == before
    mlops_dedup.merge(dsn, LETTERS, full=True)  # its NOTICEs are INFO records; no handler configured: nothing printed
    assert capsys.readouterr().err == ""


def test_a_database_not_upgraded_is_refused_before_anything_merges(
    empty_dsn: str, capsys: pytest.CaptureFixture
) -> None:
    """After `pip install --upgrade`, before `mlops-dedup install`: the runner's queries need the new columns; a merge
    that ran and then failed on them would look like a failure to a scheduler."""
    api.install(empty_dsn, up_to=api.package_schema_version() - 1)
    with pytest.raises(mlops_dedup.RunnerError, match=r"at migration \d+, this package needs \d+: run .* install"):
        mlops_dedup.merge(empty_dsn)
    assert runner.main(["merge", "--dsn", empty_dsn, "--json"]) == 1
    captured = capsys.readouterr()
    assert "this package needs" in captured.err
    assert json.loads(captured.out)["status"] == "error"  # --json: one object on stdout whatever refused it
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.dedup_runs").fetchone() == (0,)


def test_a_cancel_from_another_session_returns_the_runs_and_fails_the_command(
    locked_letters: psycopg.Connection, duplicated: psycopg.Connection, dsn: str, capsys: pytest.CaptureFixture
) -> None:
    """pg_cancel_backend (a DBA, a watchdog): no KeyboardInterrupt here; the cancelled run is returned like a failed one
    and the command fails naming it, with the JSON summary."""

    cancel = lambda conn, pid: conn.execute("SELECT pg_cancel_backend(%s)", (pid,))  # noqa: E731
    with when_the_merge_waits(dsn, locked_letters, cancel):
        status = runner.main(["merge", "--dsn", dsn, "--target", LETTERS, "--json"])
    captured = capsys.readouterr()
    assert status == 1
    assert json.loads(captured.out)["status"] == "cancelled"
    assert f"({LETTERS}) cancelled: canceling statement due to user request" in captured.err


def test_sigterm_stops_the_merge_command_like_ctrl_c(
    locked_letters: psycopg.Connection, duplicated: psycopg.Connection, dsn: str
) -> None:
    command = subprocess.Popen(
        [sys.executable, str(Path(runner.__file__)), "merge", "--dsn", dsn, "--target", LETTERS, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with when_the_merge_waits(dsn, locked_letters, lambda conn, pid: command.terminate()):
        out, err = command.communicate(timeout=60)
    assert command.returncode == 143, err
    assert json.loads(out)["status"] == "cancelled" and "Traceback" not in err
    assert duplicated.execute("SELECT status FROM mlops.dedup_runs").fetchall() == [("cancelled",)]


def test_runs_by_application_tells_two_calls_of_one_session_apart(duplicated: psycopg.Connection, dsn: str) -> None:
    """Behind a session-pooling proxy a retried task may get the same server session back: the CALL's start tells."""
    rule = "UPDATE mlops.dedup_rules SET exact_key = %s WHERE target = %s::regclass"
    duplicated.execute(rule, ("(1 / 0)::text", LETTERS))
    with psycopg.connect(dsn + "?application_name=pooled", autocommit=True) as session:
        with pytest.raises(psycopg.errors.DivisionByZero):
            session.execute("CALL mlops.merge_duplicates(%s::regclass)", (LETTERS,))
        duplicated.execute(rule, ("mlops.normalize_url(t.url)", LETTERS))
        session.execute("CALL mlops.merge_duplicates(%s::regclass)", (LETTERS,))
    assert [r["status"] for r in mlops_dedup.runs_by_application(dsn, "pooled")] == ["succeeded"]
    assert [r["status"] for r in mlops_dedup.runs_by_application(dsn, "pooled", every_call=True)] == [
        "failed",
        "succeeded",
    ]


def test_the_watch_command_leaves_the_root_logger_alone(dsn: str) -> None:
    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    assert runner.main(["watch", "--dsn", dsn, "--webhook", "ftp://example.com/x"]) == 1
    assert (list(root.handlers), root.level) == before
