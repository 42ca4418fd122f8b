"""Concurrency with real connections: inserts that reference a loser wait for the merge, then fail cleanly;
overlapping merges queue; a stress run loses no acknowledged row. Waits are detected with
pg_isolation_test_session_is_blocked, never with sleeps."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from helpers import load_incident


def wait_until_blocked(observer: psycopg.Connection, waiter_pid: int, blocker_pid: int) -> None:
    """Poll until the waiter is blocked by the blocker (bounded: a hang fails the test)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        blocked = observer.execute(
            "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (waiter_pid, [blocker_pid])
        ).fetchone()[0]
        if blocked:
            return
        time.sleep(0.005)
    raise AssertionError(f"session {waiter_pid} never blocked on {blocker_pid}")


class Step(threading.Thread):
    """Runs one statement on its own connection in a thread; keeps the result or the error."""

    def __init__(self, conn: psycopg.Connection, sql: str, params: Any = None) -> None:
        super().__init__(daemon=True)
        self.conn, self.sql, self.params = conn, sql, params
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.conn.execute(self.sql, self.params).fetchall()
        except BaseException as exc:  # reported to the test through self.error
            self.error = exc


@pytest.fixture
def connect(dsn: str) -> Callable[..., psycopg.Connection]:
    opened: list[psycopg.Connection] = []

    def _connect(autocommit: bool = True) -> psycopg.Connection:
        conn = psycopg.connect(dsn, autocommit=autocommit)
        opened.append(conn)
        return conn

    yield _connect
    for conn in opened:
        conn.close()


@pytest.mark.parametrize("on_delete", ["CASCADE", "SET NULL"])
def test_insert_referencing_loser_waits_then_fails_cleanly(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection], on_delete: str
) -> None:
    load_incident(conn)
    conn.execute(
        "CREATE TABLE mlops.letter_notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        f" letter_id bigint REFERENCES mlops.cover_letter_samples ON DELETE {on_delete})"
    )
    merger, app = connect(autocommit=False), connect()
    merger.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])")
    insert = Step(app, "INSERT INTO mlops.letter_notes (letter_id) VALUES (2) RETURNING id")
    insert.start()
    wait_until_blocked(conn, app.info.backend_pid, merger.info.backend_pid)
    merger.commit()
    insert.join(30)
    assert isinstance(insert.error, psycopg.errors.ForeignKeyViolation)
    assert 'Key (letter_id)=(2) is not present in table "cover_letter_samples"' in str(insert.error)
    assert conn.execute("SELECT count(*) FROM mlops.letter_notes").fetchone()[0] == 0


def test_uncommitted_insert_referencing_loser_is_repointed_once_committed(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    load_incident(conn)
    app, merger = connect(autocommit=False), connect()
    note_id = app.execute(
        "INSERT INTO mlops.user_interactions (user_id, recommendation_id, interaction_type) VALUES (7, 2, 'save')"
        " RETURNING id"
    ).fetchone()[0]
    merge = Step(merger, "SELECT mlops.merge_rows('mlops.job_recommendations', 1, ARRAY[2]::bigint[])")
    merge.start()
    wait_until_blocked(conn, merger.info.backend_pid, app.info.backend_pid)
    app.commit()
    merge.join(30)
    assert merge.error is None
    row = conn.execute("SELECT recommendation_id FROM mlops.user_interactions WHERE id = %s", (note_id,)).fetchone()
    assert row == (1,)


def test_overlapping_merges_queue_and_the_second_fails_cleanly(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    load_incident(conn)
    first, second = connect(autocommit=False), connect()
    first_id = first.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])").fetchone()[
        0
    ]
    other = Step(second, "SELECT mlops.merge_rows('mlops.cover_letter_samples', 3, ARRAY[2]::bigint[])")
    other.start()
    wait_until_blocked(conn, second.info.backend_pid, first.info.backend_pid)
    first.commit()
    other.join(30)
    assert isinstance(other.error, psycopg.errors.ObjectNotInPrerequisiteState)
    assert f"loser 2 of mlops.cover_letter_samples was already merged into 1 (merge {first_id})" in str(other.error)
    assert conn.execute("SELECT count(*) FROM mlops.merges WHERE parent_merge_id IS NULL").fetchone()[0] == 1


def test_stress_inserts_during_merges_lose_nothing(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    letters, inserters, inserts_each = 60, 4, 150
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, content) OVERRIDING SYSTEM VALUE"
        f" SELECT i, 'letter ' || i FROM generate_series(1, {letters}) AS i;"
        "INSERT INTO mlops.job_postings (id, url) OVERRIDING SYSTEM VALUE"
        " SELECT i, 'https://jobs.example.com/' || i FROM generate_series(1, 40) AS i;"
        "CREATE TABLE mlops.letter_notes (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
        " letter_id bigint REFERENCES mlops.cover_letter_samples ON DELETE SET NULL)"
    )
    acknowledged: dict[str, list[int]] = {"notes": [], "recs": []}
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def insert_loop(seed: int) -> None:
        rng = random.Random(seed)
        app = connect()
        try:
            for _ in range(inserts_each):
                letter = rng.randint(1, letters)
                try:
                    if rng.random() < 0.5:
                        (row_id,) = app.execute(
                            "INSERT INTO mlops.letter_notes (letter_id) VALUES (%s) RETURNING id", (letter,)
                        ).fetchone()
                        kind = "notes"
                    else:
                        (row_id,) = app.execute(
                            "INSERT INTO mlops.job_recommendations (resume_id, job_id) VALUES (%s, %s) RETURNING id",
                            (letter, rng.randint(1, 40)),
                        ).fetchone()
                        kind = "recs"
                except (psycopg.errors.ForeignKeyViolation, psycopg.errors.UniqueViolation):
                    continue  # refused, so never acknowledged
                with lock:
                    acknowledged[kind].append(row_id)
        except BaseException as exc:
            failures.append(exc)

    def merge_loop() -> None:
        merger = connect()
        try:
            for k in range(1, letters // 2 + 1):
                merger.execute(
                    "SELECT mlops.merge_rows('mlops.cover_letter_samples', %s, ARRAY[%s]::bigint[])", (2 * k - 1, 2 * k)
                )
        except BaseException as exc:
            failures.append(exc)
        finally:
            stop.set()

    threads = [threading.Thread(target=insert_loop, args=(seed,)) for seed in range(inserters)]
    threads.append(threading.Thread(target=merge_loop))
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert failures == []

    lost_notes, nulled = conn.execute(
        "SELECT count(*) FILTER (WHERE n.id IS NULL), count(*) FILTER (WHERE n.id IS NOT NULL AND n.letter_id IS NULL)"
        " FROM unnest(%s::int[]) AS a (id) LEFT JOIN mlops.letter_notes AS n ON n.id = a.id",
        (acknowledged["notes"],),
    ).fetchone()
    # a recommendation may have been merged into its twin (archived): that is kept, not lost
    lost_recs = conn.execute(
        "SELECT count(*) FROM unnest(%s::bigint[]) AS a (id)"
        " WHERE NOT EXISTS (SELECT FROM mlops.job_recommendations AS r WHERE r.id = a.id)"
        " AND NOT EXISTS (SELECT FROM mlops.merge_archive AS x"
        "   WHERE x.target = 'mlops.job_recommendations'::regclass AND x.row_key = a.id::text)",
        (acknowledged["recs"],),
    ).fetchone()[0]
    dangling = conn.execute(
        "SELECT (SELECT count(*) FROM mlops.letter_notes WHERE letter_id % 2 = 0)"
        " + (SELECT count(*) FROM mlops.job_recommendations WHERE resume_id % 2 = 0)"
    ).fetchone()[0]
    acked = len(acknowledged["notes"]) + len(acknowledged["recs"])
    print(f"stress: {acked} acknowledged inserts, lost {lost_notes + lost_recs}, nulled {nulled}, dangling {dangling}")
    assert acked > 0
    assert (lost_notes, lost_recs, nulled, dangling) == (0, 0, 0, 0)
    assert conn.execute("SELECT count(*) FROM mlops.cover_letter_samples").fetchone()[0] == letters // 2
