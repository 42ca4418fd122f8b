"""Metric snapshots, alerts and undo of a whole run (issue 13): every real run stores a snapshot per table, the alert
rules raise rows in mlops.alerts with a NOTIFY on mlops_dedup_alerts (failed and partial runs, merges refused on a
constraint, a duplicate rate above the limit, references to merged rows, new foreign keys that block deletes or have
no index, an old review queue), `runner.py watch` posts them to a webhook with retries, and mlops.unmerge_run undoes a
run all or nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest

import alert_watch
import runner


@pytest.fixture
def accounts(conn: psycopg.Connection) -> psycopg.Connection:
    """Accounts 2k-1 and 2k share an email (k = 1..10: 10 duplicates in 20 rows); notes reference accounts."""
    conn.execute(
        """
        CREATE SCHEMA app;
        CREATE TABLE app.acct (id bigint PRIMARY KEY, email text, name text);
        CREATE TABLE app.note (id bigint PRIMARY KEY, acct_id bigint REFERENCES app.acct, body text);
        CREATE INDEX ON app.note (acct_id);
        INSERT INTO app.acct SELECT g, 'user' || (g + 1) / 2 || '@example.com', NULL FROM generate_series(1, 20) g;
        INSERT INTO app.note SELECT g, g, 'n' FROM generate_series(1, 20) g;
        INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('app.acct', 't.email');
        """
    )
    return conn


def merge(conn: psycopg.Connection, target: str = "app.acct", dry_run: bool = False) -> dict[str, Any]:
    """CALL merge_duplicates for one table; the run it recorded."""
    conn.execute("CALL mlops.merge_duplicates(%s::regclass, p_dry_run => %s)", (target, dry_run))
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute("SELECT * FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1").fetchone()


def open_alerts(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute("SELECT kind, message FROM mlops.alerts WHERE resolved_at IS NULL ORDER BY alert_id").fetchall()


def test_run_stores_a_snapshot_and_its_merges_carry_the_run(accounts: psycopg.Connection) -> None:
    run = merge(accounts)
    snap = accounts.execute(
        "SELECT run_id, target::text, run_status, rows_merged, live_rows, duplicate_rate, pending_reviews,"
        " exact_key_duplicate_groups, run_seconds FROM mlops.metric_snapshots"
    ).fetchall()
    assert len(snap) == 1
    run_id, target, status, merged, live, rate, pending, groups, seconds = snap[0]
    assert (run_id, target, status, merged, live, pending, groups) == (
        run["run_id"],
        "app.acct",
        "succeeded",
        10,
        10,
        0,
        0,
    )
    assert rate == pytest.approx(10 / 20)
    assert seconds >= 0
    runs_of_merges = accounts.execute("SELECT DISTINCT run_id FROM mlops.merges").fetchall()
    assert runs_of_merges == [(run["run_id"],)]


def test_dry_run_stores_nothing_and_raises_nothing(accounts: psycopg.Connection) -> None:
    merge(accounts, dry_run=True)
    counts = accounts.execute(
        "SELECT (SELECT count(*) FROM mlops.metric_snapshots), (SELECT count(*) FROM mlops.alerts),"
        " (SELECT count(*) FROM mlops.alert_checks)"
    ).fetchone()
    assert counts == (0, 0, 0)


def test_merges_made_by_hand_have_no_run(accounts: psycopg.Connection) -> None:
    accounts.execute("SELECT mlops.merge_rows('app.acct', 1, ARRAY[2]::bigint[])")
    assert accounts.execute("SELECT run_id FROM mlops.merges").fetchall() == [(None,)]


def test_duplicate_rate_above_the_limit_raises_an_alert_with_a_notify(accounts: psycopg.Connection, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN mlops_dedup_alerts")
        run = merge(accounts)
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert open_alerts(accounts) == [
        ("duplicate_rate", f"run {run['run_id']} merged 50.00% of app.acct (10 rows), above the limit of 5.00%")
    ]
    payload = json.loads(notes[0].payload)
    assert payload["kind"] == "duplicate_rate" and payload["run_id"] == run["run_id"]
    assert payload["target"] == "app.acct" and payload["severity"] == "warning"


def test_duplicate_rate_under_a_raised_limit_or_disabled_raises_nothing(accounts: psycopg.Connection) -> None:
    accounts.execute("UPDATE mlops.alert_settings SET threshold = 0.6 WHERE kind = 'duplicate_rate'")
    merge(accounts)
    assert open_alerts(accounts) == []


def test_failed_run_raises_a_critical_alert_once(accounts: psycopg.Connection) -> None:
    # the rule's table loses its key: detection fails as a whole
    accounts.execute("ALTER TABLE app.note DROP CONSTRAINT note_acct_id_fkey")
    accounts.execute("ALTER TABLE app.acct DROP CONSTRAINT acct_pkey")
    with pytest.raises(psycopg.Error):
        merge(accounts)
    run_id = accounts.execute("SELECT max(run_id) FROM mlops.dedup_runs").fetchone()[0]
    rows = accounts.execute("SELECT kind, severity, run_id, message FROM mlops.alerts").fetchall()
    assert [(k, s, r) for k, s, r, _ in rows] == [("run_failed", "critical", run_id)]
    assert rows[0][3].startswith(f"run {run_id} of app.acct failed: ")
    # checked again (on demand): the run's alert is not raised twice, even once resolved
    accounts.execute(
        "SELECT mlops.resolve_alert(%s)", (accounts.execute("SELECT max(alert_id) FROM mlops.alerts").fetchone()[0],)
    )
    assert accounts.execute("SELECT count(*) FROM mlops.check_alerts()").fetchone() == (0,)


def test_merge_refused_on_a_constraint_raises_a_critical_alert(accounts: psycopg.Connection) -> None:
    # re-pointing note 4 to account 3 breaks the referencing table's CHECK: that cluster is refused (23514)
    accounts.execute("ALTER TABLE app.note ADD CONSTRAINT note_not_3 CHECK (acct_id <> 3 OR id <> 4)")
    run = merge(accounts)
    assert run["status"] == "partial"
    kinds = accounts.execute(
        "SELECT kind, severity, message, detail -> 'refused' -> 0 ->> 'sqlstate' FROM mlops.alerts"
        " WHERE kind IN ('merge_refused', 'run_partial') ORDER BY kind"
    ).fetchall()
    assert [(k, s) for k, s, _, _ in kinds] == [("merge_refused", "critical"), ("run_partial", "warning")]
    assert "1 merge refused on a constraint" in kinds[0][2] and "23514" in kinds[0][2]
    assert kinds[0][3] == "23514"


def test_new_unindexed_fk_raises_alerts_and_an_index_resolves_one(accounts: psycopg.Connection) -> None:
    merge(accounts)  # the first check learns the keys that exist: app.note's is not new
    assert [k for k, _ in open_alerts(accounts)] == ["duplicate_rate"]
    accounts.execute("CREATE TABLE app.badge (id int PRIMARY KEY, acct_id bigint REFERENCES app.acct)")
    raised = accounts.execute(
        "SELECT kind, message, detail ->> 'fix' FROM mlops.check_alerts() ORDER BY kind"
    ).fetchall()
    assert [k for k, _, _ in raised] == ["new_fk_blocks_delete", "new_fk_unindexed"]
    assert raised[1][1] == (
        "new foreign key badge_acct_id_fkey on app.badge has no index: every merge or delete of app.acct rows scans "
        "app.badge"
    )
    assert raised[1][2] == "CREATE INDEX CONCURRENTLY ON app.badge (acct_id);"
    accounts.execute(raised[1][2].replace(" CONCURRENTLY", ""))
    assert accounts.execute("SELECT count(*) FROM mlops.check_alerts()").fetchone() == (0,)
    still_open = [k for k, _ in open_alerts(accounts)]
    assert still_open == ["duplicate_rate", "new_fk_blocks_delete"]
    # not new any more: checked again, nothing
    accounts.execute("ALTER TABLE app.badge DROP CONSTRAINT badge_acct_id_fkey")
    accounts.execute(
        "ALTER TABLE app.badge ADD CONSTRAINT badge_acct_id_fkey FOREIGN KEY (acct_id) REFERENCES app.acct"
        " ON DELETE CASCADE"
    )
    accounts.execute("SELECT count(*) FROM mlops.check_alerts()")
    assert [k for k, _ in open_alerts(accounts)] == ["duplicate_rate"]


def test_new_fk_found_by_the_next_run(accounts: psycopg.Connection) -> None:
    merge(accounts)
    accounts.execute("CREATE TABLE app.badge (id int PRIMARY KEY, acct_id bigint REFERENCES app.acct)")
    accounts.execute("INSERT INTO app.acct VALUES (21, 'user1@example.com', NULL)")
    merge(accounts)
    kinds = [k for k, _ in open_alerts(accounts)]
    assert "new_fk_unindexed" in kinds and "new_fk_blocks_delete" in kinds


def test_old_review_queue_raises_and_a_decision_resolves(accounts: psycopg.Connection) -> None:
    accounts.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_id, right_id, left_key, right_key, score)"
        " VALUES ('app.acct', 1, 3, '1', '3', 0.7)"
    )
    accounts.execute("UPDATE mlops.duplicate_candidates SET created_at = now() - interval '8 days'")
    raised = accounts.execute("SELECT kind, message FROM mlops.check_alerts()").fetchall()
    assert [k for k, _ in raised] == ["review_queue_age"]
    assert raised[0][1].startswith("the oldest of 1 pending review pairs of app.acct has waited 8 days")
    accounts.execute("SELECT mlops.review_candidate(candidate_id, 'distinct') FROM mlops.duplicate_candidates")
    accounts.execute("SELECT count(*) FROM mlops.check_alerts()")
    assert accounts.execute(
        "SELECT resolved_at IS NOT NULL, resolved_by = current_user FROM mlops.alerts"
    ).fetchall() == [(True, True)]


def test_references_to_merged_rows_raise_until_the_next_run(accounts: psycopg.Connection, dsn: str) -> None:
    accounts.execute("SELECT mlops.add_soft_delete_columns('app.acct')")
    accounts.execute("UPDATE mlops.dedup_rules SET soft_delete = true WHERE target = 'app.acct'::regclass")
    merge(accounts)
    # the application still writes the old key (it was not told): a reference to a merged row
    accounts.execute("INSERT INTO app.note VALUES (99, 2, 'late')")
    raised = accounts.execute("SELECT kind, message FROM mlops.check_alerts()").fetchall()
    assert raised == [("references_to_merged_rows", "1 rows reference soft-deleted merged rows of app.acct")]
    merge(accounts)
    assert accounts.execute("SELECT acct_id FROM app.note WHERE id = 99").fetchone() == (1,)
    assert "references_to_merged_rows" not in [k for k, _ in open_alerts(accounts)]


def test_disabled_kind_is_not_raised(accounts: psycopg.Connection) -> None:
    accounts.execute("UPDATE mlops.alert_settings SET enabled = false WHERE kind = 'duplicate_rate'")
    merge(accounts)
    assert open_alerts(accounts) == []


def test_resolve_alert_errors(accounts: psycopg.Connection) -> None:
    merge(accounts)
    alert_id = accounts.execute("SELECT alert_id FROM mlops.alerts").fetchone()[0]
    for bad, state in ((None, "22004"), (alert_id + 100, "P0002")):
        with pytest.raises(psycopg.Error) as exc:
            accounts.execute("SELECT mlops.resolve_alert(%s::bigint)", (bad,))
        assert exc.value.sqlstate == state
    accounts.execute("SELECT mlops.resolve_alert(%s)", (alert_id,))
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("SELECT mlops.resolve_alert(%s)", (alert_id,))
    assert exc.value.sqlstate == "55000" and "already resolved" in exc.value.diag.message_primary


# ---------------------------------------------------------------- undo of a whole run


def test_unmerge_run_restores_every_row_and_reference(accounts: psycopg.Connection) -> None:
    before = accounts.execute(
        "SELECT array_agg(n ORDER BY n) FROM (SELECT (id, acct_id)::text AS n FROM app.note) x"
    ).fetchone()
    run = merge(accounts)
    assert accounts.execute("SELECT count(*) FROM app.acct").fetchone() == (10,)
    undone = accounts.execute(
        "SELECT merge_id, target::text, survivor_key FROM mlops.unmerge_run(%s)", (run["run_id"],)
    ).fetchall()
    assert len(undone) == 10 and [m for m, _, _ in undone] == sorted((m for m, _, _ in undone), reverse=True)
    assert accounts.execute("SELECT count(*) FROM app.acct").fetchone() == (20,)
    after = accounts.execute(
        "SELECT array_agg(n ORDER BY n) FROM (SELECT (id, acct_id)::text AS n FROM app.note) x"
    ).fetchone()
    assert after == before
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("SELECT * FROM mlops.unmerge_run(%s)", (run["run_id"],))
    assert exc.value.sqlstate == "P0002" and "no merge left to undo" in exc.value.diag.message_primary


def test_unmerge_run_is_all_or_nothing(accounts: psycopg.Connection) -> None:
    run = merge(accounts)
    # a later merge takes survivor 1 away: merge (1 <- 2) of the run cannot be undone, so nothing is
    accounts.execute("SELECT mlops.merge_rows('app.acct', 3, ARRAY[1]::bigint[])")
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("SELECT * FROM mlops.unmerge_run(%s)", (run["run_id"],))
    assert exc.value.sqlstate == "55000"
    assert accounts.execute(
        "SELECT count(*) FROM mlops.merges WHERE run_id = %s AND undone_at IS NULL", (run["run_id"],)
    ).fetchone() == (10,)
    assert accounts.execute("SELECT count(*) FROM app.acct").fetchone() == (9,)


def test_unmerge_run_refuses_bad_runs(accounts: psycopg.Connection) -> None:
    dry = merge(accounts, dry_run=True)
    for run_id, state in ((None, "22004"), (dry["run_id"] + 50, "P0002"), (dry["run_id"], "22023")):
        with pytest.raises(psycopg.Error) as exc:
            accounts.execute("SELECT * FROM mlops.unmerge_run(%s::bigint)", (run_id,))
        assert exc.value.sqlstate == state


# ---------------------------------------------------------------- runner.py watch


class Hook:
    """A local webhook receiver: records each JSON body; answers the first `fail` requests with HTTP 503."""

    def __init__(self, fail: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.answers: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = 503 if len(hook.answers) < fail else 200
                hook.answers.append(status)
                if status == 200:
                    hook.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook(fail=2)
    yield h
    h.close()


def test_watch_delivers_waiting_alerts_and_new_ones_with_retries(
    accounts: psycopg.Connection, dsn: str, hook: Hook
) -> None:
    merge(accounts)  # raises duplicate_rate before anyone listens
    accounts.execute(
        "CREATE TABLE app.badge (id int PRIMARY KEY, acct_id bigint REFERENCES app.acct ON DELETE CASCADE)"
    )
    delivered: list[tuple[int, bool, str]] = []
    watcher = threading.Thread(
        target=alert_watch.watch,
        kwargs={
            "dsn": dsn,
            "webhook": hook.url,
            "connect": runner.connect,
            "retries": 3,
            "stop_after": 2,
            "idle_timeout": 20,
            "on_delivery": lambda *d: delivered.append(d),
        },
    )
    watcher.start()
    # the waiting alert is delivered first, after two 503 answers; then a new one arrives by NOTIFY
    for _ in range(200):
        if delivered:
            break
        threading.Event().wait(0.05)
    accounts.execute("SELECT count(*) FROM mlops.check_alerts()")
    watcher.join(30)
    assert not watcher.is_alive()
    assert hook.answers[:3] == [503, 503, 200]
    assert [b["alert"]["kind"] for b in hook.bodies] == ["duplicate_rate", "new_fk_unindexed"]
    first = hook.bodies[0]
    assert first["text"].startswith(":warning: mlops-dedup warning alert ")
    assert "merged 50.00% of app.acct" in first["text"]
    assert first["alert"]["target"] == "app.acct" and first["alert"]["detail"]["rows_merged"] == 10
    assert accounts.execute(
        "SELECT count(*) FROM mlops.alerts WHERE delivered_at IS NOT NULL AND delivery_error IS NULL"
    ).fetchone() == (2,)


def test_watch_records_an_alert_it_could_not_deliver(accounts: psycopg.Connection, dsn: str) -> None:
    merge(accounts)
    dead = Hook(fail=100)
    try:
        delivered = alert_watch.watch(dsn, dead.url, runner.connect, retries=1, idle_timeout=0.5)
    finally:
        dead.close()
    assert delivered == 0
    assert accounts.execute("SELECT delivered_at, delivery_error FROM mlops.alerts").fetchall() == [(None, "HTTP 503")]


def test_alerts_command_lists_open_alerts(
    accounts: psycopg.Connection, dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runner.main(["alerts", "--dsn", dsn, "--check"]) == 0
    assert "no open alerts" in capsys.readouterr().out
    merge(accounts)
    assert runner.main(["alerts", "--dsn", dsn, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["kind"] for r in rows] == ["duplicate_rate"]


def test_granted_role_runs_merges_checks_and_sees_only_its_tables(accounts: psycopg.Connection, dsn: str) -> None:
    accounts.execute("CREATE ROLE app_merger LOGIN")
    accounts.execute("SELECT count(*) FROM mlops.grant_usage('app_merger')")
    accounts.execute("GRANT USAGE ON SCHEMA app TO app_merger")
    accounts.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON app.acct, app.note TO app_merger")
    accounts.execute("GRANT TEMPORARY ON DATABASE " + dsn.rsplit("/", 1)[1] + " TO app_merger")
    accounts.execute("CREATE TABLE app.secret (id int PRIMARY KEY, k text)")
    accounts.execute("INSERT INTO app.secret VALUES (1, 'a'), (2, 'a')")
    accounts.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('app.secret', 't.k')")
    merge(accounts, "app.secret")
    role_dsn = dsn.replace("postgres@", "app_merger@")
    with psycopg.connect(role_dsn, autocommit=True) as role:
        role.execute("CALL mlops.merge_duplicates('app.acct')")
        kinds = role.execute("SELECT kind, target::text FROM mlops.alerts ORDER BY alert_id").fetchall()
        assert kinds == [("duplicate_rate", "app.acct")]
        assert role.execute("SELECT count(*) FROM mlops.metric_snapshots").fetchone() == (1,)
        role.execute("SELECT count(*) FROM mlops.check_alerts()")
        assert role.execute("SELECT raised_by FROM mlops.alerts").fetchall() == [("app_merger",)]
        with pytest.raises(psycopg.Error) as exc:
            role.execute(
                "INSERT INTO mlops.alerts (kind, severity, target, fingerprint, message)"
                " VALUES ('run_failed', 'critical', 'app.secret', 'x', 'forged')"
            )
        assert exc.value.sqlstate == "42501"
    assert accounts.execute("SELECT count(*) FROM mlops.alerts WHERE target = 'app.secret'::regclass").fetchone() == (
        1,
    )
