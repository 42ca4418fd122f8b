"""A merge_duplicates run always finishes (issue 8, item 6): a cluster that cannot merge fails only itself, rows that
changed since detection are re-checked, a rule that fails as a whole leaves the others running and the CALL raises,
the advisory lock is always released, and a CALL in autocommit is never refused as "inside a transaction block"."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import psycopg
import pytest

ACCT = "app.acct"
TAG = "app.tag"


@pytest.fixture
def connect(dsn: str) -> Iterator[Callable[..., psycopg.Connection]]:
    """Opens more sessions on the test database (closed afterwards)."""
    opened: list[psycopg.Connection] = []

    def _connect(autocommit: bool = True) -> psycopg.Connection:
        connection = psycopg.connect(dsn, autocommit=autocommit)
        opened.append(connection)
        return connection

    yield _connect
    for connection in opened:
        connection.close()


@pytest.fixture
def accounts(conn: psycopg.Connection) -> psycopg.Connection:
    """Accounts 2k-1 and 2k share an email (k = 1..5: survivor 2k-1, loser 2k); notes reference them, and a trigger
    on notes refuses to change a note on hold, note 100 (it references loser 6): the cluster of survivor 5 cannot
    merge. Tags 1/2 and 3/4 are duplicates under a second rule, which runs after the accounts' (name order)."""
    conn.execute(
        """
        CREATE SCHEMA app;
        CREATE TABLE app.acct (id bigint PRIMARY KEY, email text, name text);
        CREATE TABLE app.note (id bigint PRIMARY KEY, acct_id bigint REFERENCES app.acct, body text);
        CREATE FUNCTION app.note_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT FROM app.hold AS h WHERE h.note_id = OLD.id) THEN
                RAISE EXCEPTION 'note % is frozen', OLD.id USING ERRCODE = 'check_violation', DETAIL = 'legal hold';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER note_guard BEFORE UPDATE ON app.note FOR EACH ROW EXECUTE FUNCTION app.note_guard();
        INSERT INTO app.acct SELECT g, 'user' || (g + 1) / 2 || '@example.com', NULL FROM generate_series(1, 10) g;
        INSERT INTO app.note VALUES (100, 6, 'a'), (101, 4, 'b'), (102, 8, 'c');
        CREATE TABLE app.hold (note_id bigint PRIMARY KEY);
        INSERT INTO app.hold VALUES (100);
        CREATE TABLE app.tag (id bigint PRIMARY KEY, label text);
        INSERT INTO app.tag VALUES (1, 'ml'), (2, 'ml'), (3, 'data'), (4, 'data');
        INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('app.acct', 't.email'), ('app.tag', 't.label');
        """
    )
    # The capture triggers of incremental detection are in place already (a first run creates them, locking the
    # table for that instant): the runs below then wait only where these tests make them wait.
    conn.execute("SELECT mlops.dedup_track_changes('app.acct'), mlops.dedup_track_changes('app.tag')")
    return conn


def ids(conn: psycopg.Connection, table: str) -> list[int]:
    return [i for (i,) in conn.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()]


def runs(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT target::text, status, rows_merged, clusters_failed, clusters_skipped, clusters_changed, error_sqlstate"
        " FROM mlops.dedup_runs WHERE target::text LIKE 'app.%' ORDER BY run_id"
    ).fetchall()


def open_failures(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT target::text, survivor_key, loser_keys, sqlstate, message, detail FROM mlops.merge_failures"
        " WHERE cleared_at IS NULL ORDER BY failure_id"
    ).fetchall()


def lock_is_free(connect: Callable[..., psycopg.Connection], table: str) -> bool:
    """Another session can take the run lock of the table (and gives it back)."""
    other = connect()
    (taken,) = other.execute(
        "SELECT pg_try_advisory_lock(hashtext('mlops.merge_duplicates'), %s::regclass::oid::integer)", (table,)
    ).fetchone()
    if taken:
        other.execute(
            "SELECT pg_advisory_unlock(hashtext('mlops.merge_duplicates'), %s::regclass::oid::integer)", (table,)
        )
    return taken


# 1. A cluster that cannot merge fails only itself: not its batch, not later rules, not later runs.


def test_a_cluster_that_cannot_merge_fails_only_itself(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    notices: list[str] = []
    accounts.add_notice_handler(lambda d: notices.append(d.message_primary))

    accounts.execute("CALL mlops.merge_duplicates()")  # no error: the run is partial, not failed

    assert ids(accounts, ACCT) == [1, 3, 5, 6, 7, 9]  # 4 clusters merged in the one batch; 5 <- 6 not
    assert accounts.execute("SELECT acct_id FROM app.note ORDER BY id").fetchall() == [(6,), (3,), (7,)]
    assert ids(accounts, TAG) == [1, 3]  # the later rule ran
    assert ("app.acct", "partial", 4, 1, 0, 0, "23514") in runs(accounts)
    assert ("app.tag", "succeeded", 2, 0, 0, 0, None) in runs(accounts)
    assert open_failures(accounts) == [("app.acct", "5", ["6"], "23514", "note 100 is frozen", "legal hold")]
    (error,) = accounts.execute("SELECT error FROM mlops.dedup_runs WHERE target = %s::regclass", (ACCT,)).fetchone()
    assert error == "cluster of survivor 5 (losers 6) failed: note 100 is frozen"
    assert any(
        "1 clusters failed, recorded in mlops.merge_failures (survivors 5; SQLSTATE 23514)" in n for n in notices
    )
    assert lock_is_free(connect, ACCT)


def test_later_runs_skip_a_failed_cluster_until_a_person_clears_it(accounts: psycopg.Connection) -> None:
    accounts.execute("CALL mlops.merge_duplicates(%s)", (ACCT,))
    accounts.execute("DELETE FROM app.hold")  # the hold is lifted: not the cluster's rows

    accounts.execute("CALL mlops.merge_duplicates(%s)", (ACCT,))  # skipped, not tried: the guard is not even run
    assert runs(accounts)[-1] == ("app.acct", "partial", 0, 0, 1, 0, None)
    assert ids(accounts, ACCT) == [1, 3, 5, 6, 7, 9]

    (cleared,) = accounts.execute("SELECT mlops.merge_failures_clear(%s, p_note => 'hold lifted')", (ACCT,)).fetchone()
    accounts.execute("CALL mlops.merge_duplicates(%s)", (ACCT,))

    assert cleared == 1
    assert runs(accounts)[-1] == ("app.acct", "succeeded", 1, 0, 0, 0, None)
    assert ids(accounts, ACCT) == [1, 3, 5, 7, 9]
    assert accounts.execute("SELECT acct_id FROM app.note WHERE id = 100").fetchone() == (5,)
    assert accounts.execute(
        "SELECT cleared_by = current_user, cleared_reason FROM mlops.merge_failures"
    ).fetchall() == [(True, "cleared by hand: hold lifted")]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("UPDATE app.acct SET name = 'Lee' WHERE id IN (5, 6)", "rows changed"),
        (
            "UPDATE mlops.dedup_rules SET exact_key = 'lower(t.email)' WHERE target = 'app.acct'::regclass",
            "rule changed",
        ),
        ("INSERT INTO app.acct VALUES (11, 'user3@example.com', NULL)", "no longer detected"),
    ],
)
def test_a_failed_cluster_is_tried_again_when_its_rows_or_the_rule_change(
    accounts: psycopg.Connection, change: str, reason: str
) -> None:
    accounts.execute("CALL mlops.merge_duplicates(%s)", (ACCT,))
    accounts.execute(change)

    accounts.execute("CALL mlops.merge_duplicates(%s)", (ACCT,))

    # tried again: it fails again (the guard still holds), and is recorded anew
    assert runs(accounts)[-1][1:5] == ("partial", 0, 1, 0)
    assert accounts.execute(
        "SELECT cleared_reason FROM mlops.merge_failures WHERE cleared_at IS NOT NULL"
    ).fetchall() == [(reason,)]
    assert [f[1:3] for f in open_failures(accounts)] == [
        ("5", ["6", "11"] if reason == "no longer detected" else ["6"])
    ]
    assert 6 in ids(accounts, ACCT)


def test_bisection_merges_every_cluster_around_several_failing_ones(
    accounts: psycopg.Connection,
) -> None:
    accounts.execute("INSERT INTO app.hold VALUES (101), (102)")  # losers 4 and 8 held too

    accounts.execute("CALL mlops.merge_duplicates(%s, p_batch_size => 500)", (ACCT,))

    assert ids(accounts, ACCT) == [1, 3, 4, 5, 6, 7, 8, 9]
    assert [f[1:4] for f in open_failures(accounts)] == [
        ("3", ["4"], "23514"),
        ("5", ["6"], "23514"),
        ("7", ["8"], "23514"),
    ]
    assert runs(accounts)[-1] == ("app.acct", "partial", 2, 3, 0, 0, "23514")
    assert accounts.execute("SELECT count(*) FROM mlops.merge_archive").fetchone() == (2,)


# 2. Rows that changed since detection are re-checked, not failures.


def test_rows_deleted_or_merged_by_hand_during_a_run_are_rechecked_not_failures(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    accounts.execute("DELETE FROM app.note WHERE id = 100")
    hand = connect(autocommit=False)  # a person merges cluster 2 by hand; it commits while the run waits for it
    hand.execute("SELECT mlops.merge_rows('app.acct', 3, ARRAY[4]::bigint[])")
    app = connect(autocommit=False)  # the application deletes loser 8
    app.execute("DELETE FROM app.note WHERE id = 102")
    app.execute("DELETE FROM app.acct WHERE id = 8")
    run = connect()
    failure: list[BaseException] = []

    def call() -> None:
        try:
            run.execute("CALL mlops.merge_duplicates(%s, p_batch_size => 1)", (ACCT,))
        except psycopg.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    for holder in (hand, app):
        deadline = time.monotonic() + 30
        while not accounts.execute(
            "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (run.info.backend_pid, [holder.info.backend_pid])
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "the run never waited for the concurrent change"
            time.sleep(0.005)
        holder.commit()
    thread.join(60)

    assert failure == []
    assert runs(accounts) == [("app.acct", "succeeded", 3, 0, 0, 2, None)]
    assert ids(accounts, ACCT) == [1, 3, 5, 7, 9]
    assert accounts.execute("SELECT count(*) FROM mlops.merge_failures").fetchone() == (0,)
    assert accounts.execute(
        "SELECT survivor_id, loser_ids, reason LIKE 'dedup run%' FROM mlops.merges ORDER BY survivor_id"
    ).fetchall() == [(1, [2], True), (3, [4], False), (5, [6], True), (9, [10], True)]


def test_a_row_updated_so_it_is_no_longer_a_duplicate_is_not_merged(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    """Detection saw 9 and 10 share an email; the application changes 10's email and commits while the run waits
    for its lock: the run re-checks what the rule reads after locking, and leaves 10 alone (changed, not merged)."""
    accounts.execute("DELETE FROM app.hold")  # every other cluster merges in the one batch
    app = connect(autocommit=False)
    app.execute("UPDATE app.acct SET email = 'someone.else@example.com' WHERE id = 10")
    run = connect()
    failure: list[BaseException] = []

    def call() -> None:
        try:
            run.execute("CALL mlops.merge_duplicates(%s, p_batch_size => 500)", (ACCT,))
        except psycopg.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 30
    while not accounts.execute(
        "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (run.info.backend_pid, [app.info.backend_pid])
    ).fetchone()[0]:
        assert time.monotonic() < deadline, "the run never waited for the application's update"
        time.sleep(0.005)
    app.commit()
    thread.join(60)

    assert failure == []
    assert 10 in ids(accounts, ACCT) and 9 in ids(accounts, ACCT)
    assert accounts.execute("SELECT email FROM app.acct WHERE id = 10").fetchone() == ("someone.else@example.com",)
    (status, changed) = accounts.execute(
        "SELECT status, clusters_changed FROM mlops.dedup_runs WHERE target = %s::regclass", (ACCT,)
    ).fetchone()
    assert (status, changed) == ("succeeded", 1)
    assert ids(accounts, ACCT) == [1, 3, 5, 7, 9, 10]


# 3. A rule that fails as a whole: recorded failed, the other rules run, the CALL raises, the lock is released.


def test_a_rule_whose_expression_fails_at_run_time_fails_alone_and_the_call_raises(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    accounts.execute(
        "UPDATE mlops.dedup_rules SET exact_key = '(10 / (t.id - 7))::text' WHERE target = %s::regclass", (ACCT,)
    )

    with pytest.raises(psycopg.errors.DivisionByZero) as exc:
        accounts.execute("CALL mlops.merge_duplicates()")

    (run_id,) = accounts.execute("SELECT run_id FROM mlops.dedup_runs WHERE target = %s::regclass", (ACCT,)).fetchone()
    assert f"mlops.merge_duplicates: 1 of its rules failed: run {run_id} (app.acct): division by zero" in str(exc.value)
    assert ("app.acct", "failed", 0, 0, 0, 0, "22012") in runs(accounts)
    assert ("app.tag", "succeeded", 2, 0, 0, 0, None) in runs(accounts)
    assert ids(accounts, ACCT) == list(range(1, 11))
    assert ids(accounts, TAG) == [1, 3]
    assert lock_is_free(connect, ACCT)
    connect().execute("CALL mlops.merge_duplicates(%s)", (TAG,))  # another session runs right after
    assert runs(accounts)[-1][:2] == ("app.tag", "succeeded")


@pytest.mark.parametrize(
    ("setting", "sqlstate"), [("lock_timeout = '100ms'", "55P03"), ("statement_timeout = '1s'", "57014")]
)
def test_a_timeout_during_detection_fails_the_rule_and_the_other_rules_run(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection], setting: str, sqlstate: str
) -> None:
    holder = connect(autocommit=False)
    holder.execute("LOCK TABLE app.acct IN ACCESS EXCLUSIVE MODE")
    run = connect()
    run.execute(f"SET {setting}")

    with pytest.raises(psycopg.Error) as exc:
        run.execute("CALL mlops.merge_duplicates()")
    holder.rollback()

    assert exc.value.sqlstate == sqlstate
    assert "(app.acct): canceling statement due to" in str(exc.value) or "(app.acct): could not obtain lock" in str(
        exc.value
    )
    assert ("app.acct", "failed", 0, 0, 0, 0, sqlstate) in runs(accounts)
    assert ("app.tag", "succeeded", 2, 0, 0, 0, None) in runs(accounts)
    assert lock_is_free(connect, ACCT)
    assert ids(accounts, ACCT) == list(range(1, 11))


def cancel_while_blocked(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection], call_sql: str
) -> tuple[psycopg.Connection, list[BaseException]]:
    """Runs call_sql in a new session while another holds app.acct, cancels it (pg_cancel_backend) once it is
    blocked there; returns that session, still open, and what the CALL raised."""
    holder = connect(autocommit=False)
    holder.execute("LOCK TABLE app.acct IN ACCESS EXCLUSIVE MODE")
    run = connect()
    failure: list[BaseException] = []

    def call() -> None:
        try:
            run.execute(call_sql)
        except psycopg.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 30
    while not accounts.execute(
        "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (run.info.backend_pid, [holder.info.backend_pid])
    ).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    accounts.execute("SELECT pg_cancel_backend(%s)", (run.info.backend_pid,))
    thread.join(30)
    holder.rollback()
    return run, failure


@pytest.mark.parametrize("waiting_in", ["capture trigger", "detection"])
def test_a_cancel_where_a_run_waits_records_it_cancelled_and_releases_the_lock_in_the_same_session(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection], waiting_in: str
) -> None:
    """psql's Ctrl-C (pg_cancel_backend) while the run waits for a lock: creating the capture trigger (step 0, the
    table's first incremental run) or reading the table (detection). The session stays open afterwards, as psql's
    does: the run is recorded cancelled by the procedure itself and the table's lock is not held on."""
    if waiting_in == "capture trigger":
        accounts.execute("DROP TRIGGER mlops_dedup_capture_insert ON app.acct")  # the run creates it again, in step 0
    run, failure = cancel_while_blocked(accounts, connect, "CALL mlops.merge_duplicates('app.acct')")

    assert len(failure) == 1 and failure[0].sqlstate == "57014"
    assert "canceled: canceling statement due to user request" in str(failure[0])  # the procedure's own message
    assert accounts.execute(
        "SELECT status, error, error_sqlstate FROM mlops.dedup_runs WHERE target = 'app.acct'::regclass"
    ).fetchall() == [("cancelled", "canceling statement due to user request", "57014")]
    # the same session, still open, holds no run lock: another session runs the table at once
    assert run.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    ).fetchone() == (0,)
    assert lock_is_free(connect, ACCT)


def test_a_cancel_stops_the_call_records_the_run_and_releases_the_lock(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    _, failure = cancel_while_blocked(accounts, connect, "CALL mlops.merge_duplicates()")

    assert len(failure) == 1 and failure[0].sqlstate == "57014"
    assert "canceled: canceling statement due to user request" in str(failure[0])
    # a cancel is the caller's choice, not a failure: recorded 'cancelled' (no run_failed alert); the tags' rule did
    # not run
    assert runs(accounts) == [("app.acct", "cancelled", 0, 0, 0, 0, "57014")]
    assert lock_is_free(connect, ACCT)


# 4. A CALL made in autocommit is never refused; a CALL inside BEGIN fails before changing anything.


def test_call_inside_a_block_that_has_not_written_fails_at_its_first_commit_before_any_work(
    accounts: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    in_block = connect(autocommit=False)
    in_block.execute("SELECT 1")

    with pytest.raises(psycopg.errors.InvalidTransactionTermination):
        in_block.execute("CALL mlops.merge_duplicates()")
    in_block.rollback()

    assert runs(accounts) == []
    assert ids(accounts, ACCT) == list(range(1, 11))
    assert lock_is_free(connect, ACCT)


def test_call_whose_parse_and_execute_are_far_apart_is_not_refused(accounts: psycopg.Connection, dsn: str) -> None:
    """The extended protocol starts the transaction at Parse and the statement at Execute: 1.5 s apart here (the old
    timestamp heuristic refused that as a transaction block)."""
    with psycopg.connect(dsn, autocommit=True) as session:
        pgconn = session.pgconn
        pgconn.enter_pipeline_mode()
        pgconn.send_prepare(b"", b"CALL mlops.merge_duplicates($1::regclass)", None)
        pgconn.send_flush_request()
        pgconn.flush()
        time.sleep(1.5)
        pgconn.send_query_prepared(b"", [TAG.encode()])
        pgconn.pipeline_sync()
        pgconn.flush()
        statuses = []
        while True:
            pgconn.consume_input()
            if pgconn.is_busy():
                time.sleep(0.01)
                continue
            result = pgconn.get_result()
            if result is None:
                continue
            statuses.append((result.status, result.error_message.decode()))
            if result.status == psycopg.pq.ExecStatus.PIPELINE_SYNC:
                break
        pgconn.exit_pipeline_mode()

    assert [s for s, _ in statuses if s == psycopg.pq.ExecStatus.FATAL_ERROR] == [], statuses
    assert runs(accounts) == [("app.tag", "succeeded", 2, 0, 0, 0, None)]


def test_hundreds_of_autocommit_calls_under_cpu_load_are_never_refused(accounts: psycopg.Connection, dsn: str) -> None:
    """300 CALLs with bound parameters (extended protocol) and 300 with the values inlined (simple protocol, psycopg
    ClientCursor), 20 of each merging a table, plus 20 through psql, while other backends keep both cores busy."""
    accounts.execute("UPDATE mlops.dedup_rules SET enabled = false")  # CALL with no target: only the checks
    stop = threading.Event()

    def burn() -> None:
        with psycopg.connect(dsn, autocommit=True) as busy:
            while not stop.is_set():
                busy.execute("SELECT count(*) FROM generate_series(1, 300000)")

    burners = [threading.Thread(target=burn) for _ in range(3)]
    for burner in burners:
        burner.start()
    refused: list[str] = []
    try:
        with (
            psycopg.connect(dsn, autocommit=True) as extended,
            psycopg.connect(dsn, autocommit=True, cursor_factory=psycopg.ClientCursor) as simple,
        ):
            for i in range(300):
                for session in (extended, simple):
                    target = (TAG if i % 2 else ACCT) if i % 15 == 0 else None
                    try:
                        session.execute("CALL mlops.merge_duplicates(%s, p_batch_size => %s)", (target, 50 + i))
                    except psycopg.errors.InvalidTransactionState as exc:
                        refused.append(str(exc))
        for _ in range(20):
            out = subprocess.run(
                ["psql", dsn, "-v", "ON_ERROR_STOP=1", "-qc", f"CALL mlops.merge_duplicates('{TAG}')"],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                refused.append(out.stderr)
    finally:
        stop.set()
        for burner in burners:
            burner.join()

    assert refused == []
    assert accounts.execute(
        "SELECT count(*), count(*) FILTER (WHERE status IN ('succeeded', 'partial')) FROM mlops.dedup_runs"
    ).fetchone() == (60, 60)
