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

import runner
from mlops_dedup import alert_watch


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
    alert_id = accounts.execute("SELECT alert_id FROM mlops.alerts").fetchone()[0]
    # any role may LISTEN: the payload names the alert and nothing about the table
    assert payload == {"alert_id": alert_id, "kind": "duplicate_rate", "severity": "warning"}


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


# ---------------------------------------------------------------- who may raise, hide or attach what


@pytest.fixture
def two_owners(accounts: psycopg.Connection, dsn: str) -> Iterator[psycopg.Connection]:
    """Role op may change app.acct only; other.t (a rule's table too) is not op's. Yields op's session."""
    accounts.execute(
        """
        CREATE ROLE op LOGIN;
        SELECT count(*) FROM mlops.grant_usage('op');
        GRANT USAGE ON SCHEMA app TO op;
        GRANT SELECT, INSERT, UPDATE, DELETE ON app.acct, app.note TO op;
        CREATE SCHEMA other;
        CREATE TABLE other.t (id int PRIMARY KEY, k text);
        INSERT INTO other.t VALUES (1, 'a'), (2, 'a'), (3, 'b');
        INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('other.t', 't.k');
        """
    )
    accounts.execute("GRANT TEMPORARY ON DATABASE " + dsn.rsplit("/", 1)[1] + " TO op")
    with psycopg.connect(dsn.replace("postgres@", "op@"), autocommit=True) as op:
        yield op
    # roles belong to the cluster, which every test shares
    accounts.execute("DROP OWNED BY op")
    accounts.execute("DROP ROLE op")


def test_a_role_checks_its_own_tables_whatever_others_hold(
    two_owners: psycopg.Connection, accounts: psycopg.Connection
) -> None:
    # other.t has an old review pair and a failed... nothing op may see or change: op's checks still work
    accounts.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_id, right_id, left_key, right_key, score, created_at)"
        " VALUES ('other.t', 1, 3, '1', '3', 0.7, now() - interval '8 days')"
    )
    two_owners.execute("CALL mlops.merge_duplicates('app.acct')")
    assert two_owners.execute("SELECT kind, target::text FROM mlops.alerts").fetchall() == [
        ("duplicate_rate", "app.acct")
    ]
    assert two_owners.execute("SELECT count(*) FROM mlops.metric_snapshots").fetchone() == (1,)
    # the owner's check finds other.t's queue (op's check left it alone)
    raised = accounts.execute("SELECT kind, target::text FROM mlops.check_alerts()").fetchall()
    assert raised == [("review_queue_age", "other.t")]


def test_a_role_cannot_forge_hide_or_suppress_alerts_of_tables_it_may_not_change(
    two_owners: psycopg.Connection, accounts: psycopg.Connection
) -> None:
    accounts.execute("CALL mlops.merge_duplicates('other.t')")
    (alert_id, run_id) = accounts.execute("SELECT alert_id, run_id FROM mlops.alerts").fetchone()
    accounts.execute("GRANT SELECT ON other.t TO op")  # op may read other.t, not change it
    assert two_owners.execute("SELECT count(*) FROM mlops.alerts").fetchone() == (1,)
    for statement in (
        f"UPDATE mlops.alerts SET resolved_at = now(), resolved_by = 'postgres' WHERE alert_id = {alert_id}",
        f"UPDATE mlops.alerts SET delivered_at = now() WHERE alert_id = {alert_id}",
    ):
        two_owners.execute(statement)  # row-level security: not op's to change, nothing happens
    assert accounts.execute("SELECT resolved_at, delivered_at FROM mlops.alerts").fetchall() == [(None, None)]
    with pytest.raises(psycopg.Error) as exc:
        two_owners.execute("SELECT mlops.resolve_alert(%s)", (alert_id,))
    assert exc.value.sqlstate == "42501" and "which role op may not change" in exc.value.diag.message_primary
    for statement in (
        "INSERT INTO mlops.alerts (kind, severity, target, run_id, fingerprint, message)"
        f" VALUES ('run_failed', 'critical', 'other.t', {run_id}, 'run_failed:{run_id}', 'forged')",
        "INSERT INTO mlops.metric_snapshots (target, pending_reviews, references_to_merged_rows)"
        " VALUES ('other.t', 0, 0)",
        "INSERT INTO mlops.alert_known_fks (constraint_oid, constraint_name, referencing_table, target)"
        " VALUES (1, 'x', 'app.note', 'other.t')",
        f"INSERT INTO mlops.alert_checked_runs (run_id, target) VALUES ({run_id + 1}, 'app.acct')",
    ):
        with pytest.raises(psycopg.Error) as exc:
            two_owners.execute(statement)
        assert exc.value.sqlstate == "42501", statement
    # a fingerprint written for op's own table suppresses nothing of other.t's
    two_owners.execute(
        "INSERT INTO mlops.alerts (kind, severity, target, run_id, fingerprint, message)"
        " VALUES ('run_failed', 'critical', 'app.acct', NULL, 'duplicate_rate:999', 'mine')"
    )
    accounts.execute("INSERT INTO other.t VALUES (4, 'b'), (5, 'b')")
    accounts.execute("ANALYZE other.t")  # the incremental run's rate uses the planner's estimate
    accounts.execute("CALL mlops.merge_duplicates('other.t')")
    assert accounts.execute(
        "SELECT count(*) FROM mlops.alerts WHERE target = 'other.t'::regclass AND kind = 'duplicate_rate'"
    ).fetchone() == (2,)


def test_resolved_by_is_the_resolver_and_a_resolved_alert_stays_resolved(
    two_owners: psycopg.Connection, accounts: psycopg.Connection
) -> None:
    two_owners.execute("CALL mlops.merge_duplicates('app.acct')")
    two_owners.execute("UPDATE mlops.alerts SET resolved_at = now(), resolved_by = 'postgres'")
    assert accounts.execute("SELECT resolved_by FROM mlops.alerts").fetchall() == [("op",)]
    with pytest.raises(psycopg.Error) as exc:
        two_owners.execute("UPDATE mlops.alerts SET resolved_at = NULL")
    assert exc.value.sqlstate == "55000"


def test_merges_cannot_be_attached_to_another_roles_run(
    two_owners: psycopg.Connection, accounts: psycopg.Connection
) -> None:
    run = merge(accounts)
    accounts.execute("INSERT INTO app.acct VALUES (21, 'user21@example.com', NULL), (22, 'user22@example.com', NULL)")
    two_owners.execute(f"SET mlops.run_id = '{run['run_id']}'")
    with pytest.raises(psycopg.Error) as exc:
        two_owners.execute("SELECT mlops.merge_rows('app.acct', 21, ARRAY[22]::bigint[])")
    assert exc.value.sqlstate == "42501" and "not a running merge_duplicates run of that table by role op" in str(
        exc.value
    )
    two_owners.execute("RESET mlops.run_id")
    two_owners.execute("SELECT mlops.merge_rows('app.acct', 21, ARRAY[22]::bigint[])")
    # the run is still undone as a whole, by its own role
    assert len(accounts.execute("SELECT * FROM mlops.unmerge_run(%s)", (run["run_id"],)).fetchall()) == 10


def test_a_run_whose_check_was_missed_is_checked_by_the_next_one(accounts: psycopg.Connection) -> None:
    accounts.execute("UPDATE mlops.alert_settings SET enabled = false WHERE kind = 'duplicate_rate'")
    run = merge(accounts)
    # as if the CALL's own check had not happened: the run is not marked checked, its snapshot missing
    accounts.execute("DELETE FROM mlops.alert_checked_runs WHERE run_id = %s", (run["run_id"],))
    accounts.execute("DELETE FROM mlops.metric_snapshots")
    accounts.execute("UPDATE mlops.alert_settings SET enabled = true WHERE kind = 'duplicate_rate'")
    raised = accounts.execute("SELECT kind, run_id FROM mlops.check_alerts()").fetchall()
    assert raised == [("duplicate_rate", run["run_id"])]
    assert accounts.execute("SELECT count(*) FROM mlops.check_alerts()").fetchone() == (0,)
    assert accounts.execute(
        "SELECT count(*) FROM mlops.metric_snapshots WHERE run_id = %s", (run["run_id"],)
    ).fetchone() == (1,)


def test_an_incremental_run_rates_against_the_last_count(accounts: psycopg.Connection) -> None:
    merge(accounts)  # a full pass: 10 live rows counted
    accounts.execute("INSERT INTO app.acct VALUES (21, 'user1@example.com', NULL)")
    run = merge(accounts)  # incremental, within the hour: not counted again (the table was never analyzed)
    assert run["full_pass"] is False and run["rows_merged"] == 1
    assert accounts.execute(
        "SELECT live_rows, duplicate_rate FROM mlops.metric_snapshots WHERE run_id = %s", (run["run_id"],)
    ).fetchone() == (None, pytest.approx(1 / (1 + 10)))
    # 9 % is above the default limit of 5 %: one run merging 1 row of 11 is alerted, not as 100 %
    message = accounts.execute("SELECT message FROM mlops.alerts WHERE run_id = %s", (run["run_id"],)).fetchone()[0]
    assert message == f"run {run['run_id']} merged 9.09% of app.acct (1 rows), above the limit of 5.00%"


def test_existing_foreign_keys_of_a_new_or_re_enabled_rule_are_not_new(accounts: psycopg.Connection) -> None:
    accounts.execute(
        "CREATE TABLE app.tag (id int PRIMARY KEY, label text);"
        " CREATE TABLE app.tagging (id int PRIMARY KEY, tag_id int REFERENCES app.tag);"
    )
    merge(accounts)  # app.acct watched from here
    accounts.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('app.tag', 't.label')")
    accounts.execute("UPDATE mlops.dedup_rules SET enabled = false WHERE target = 'app.acct'::regclass")
    assert accounts.execute("SELECT kind FROM mlops.check_alerts() WHERE kind LIKE 'new_fk%'").fetchall() == []
    accounts.execute("UPDATE mlops.dedup_rules SET enabled = true WHERE target = 'app.acct'::regclass")
    assert accounts.execute("SELECT kind FROM mlops.check_alerts() WHERE kind LIKE 'new_fk%'").fetchall() == []
    # a key added to the new rule's table since its first check is new
    accounts.execute("CREATE TABLE app.tagging2 (id int PRIMARY KEY, tag_id int REFERENCES app.tag ON DELETE CASCADE)")
    assert accounts.execute("SELECT kind FROM mlops.check_alerts() WHERE kind LIKE 'new_fk%'").fetchall() == [
        ("new_fk_unindexed",)
    ]


def test_watch_reconnects_after_losing_the_database(accounts: psycopg.Connection, dsn: str) -> None:
    hook = Hook()
    delivered: list[tuple[int, bool, str]] = []
    watcher = threading.Thread(
        target=alert_watch.watch,
        kwargs={
            "dsn": dsn,
            "webhook": hook.url,
            "connect": runner.connect,
            "stop_after": 1,
            "on_delivery": lambda *d: delivered.append(d),
        },
    )
    watcher.start()
    listening = "SELECT pid FROM pg_stat_activity WHERE query = 'LISTEN mlops_dedup_alerts'"
    for _ in range(400):
        if accounts.execute(listening).fetchall():
            break
        threading.Event().wait(0.05)
    accounts.execute(f"SELECT pg_terminate_backend(pid) FROM ({listening}) AS l")
    for _ in range(400):  # the watcher is back (its first wait is 1 s)
        if accounts.execute(listening).fetchall():
            break
        threading.Event().wait(0.05)
    merge(accounts)
    watcher.join(30)
    hook.close()
    assert not watcher.is_alive() and [ok for _, ok, _ in delivered] == [True]
    assert hook.bodies[0]["alert"]["kind"] == "duplicate_rate"


def test_watch_keeps_the_webhooks_address_out_of_logs_and_the_table(accounts: psycopg.Connection, dsn: str) -> None:
    merge(accounts)
    secret = "http://127.0.0.1:9/services/T000/B000/SECRETTOKEN"  # nothing listens on port 9
    assert alert_watch.watch(dsn, secret, runner.connect, retries=0, idle_timeout=0.5) == 0
    ((error,),) = accounts.execute("SELECT delivery_error FROM mlops.alerts").fetchall()
    assert error.startswith("ConnectionError") and "SECRET" not in error and "services" not in error
    assert alert_watch.redacted(secret) == "http://127.0.0.1:9/…"


def test_a_rule_that_fails_at_run_time_is_alerted_and_silences_nothing_else(accounts: psycopg.Connection) -> None:
    accounts.execute(
        "CREATE TABLE app.tag (id int PRIMARY KEY, label text);"
        " INSERT INTO app.tag VALUES (1, 'a'), (2, 'a'), (3, 'b');"
        # division by zero on row 3: detection of app.tag fails, and so would its exact-key count
        " INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('app.tag', '(t.label || 1 / (t.id - 3))');"
    )
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("CALL mlops.merge_duplicates()")
    assert exc.value.sqlstate == "22012"
    kinds = accounts.execute("SELECT kind, target::text FROM mlops.alerts ORDER BY kind").fetchall()
    assert kinds == [("duplicate_rate", "app.acct"), ("run_failed", "app.tag")]
    # the on-demand check measures every table: the broken one is named and left out, the others measured
    notices: list[str] = []
    accounts.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    accounts.execute("SELECT count(*) FROM mlops.check_alerts()")
    assert any("exact-key duplicate groups not counted: division by zero" in n for n in notices)
    assert accounts.execute(
        "SELECT target::text, live_rows, exact_key_duplicate_groups FROM mlops.metric_snapshots"
        " WHERE run_id IS NULL AND target::text LIKE 'app.%' ORDER BY 1"
    ).fetchall() == [("app.acct", 10, 0), ("app.tag", 3, None)]


def test_a_failing_rule_is_one_open_alert_until_a_run_does_better(accounts: psycopg.Connection) -> None:
    accounts.execute("UPDATE mlops.alert_settings SET enabled = false WHERE kind = 'duplicate_rate'")
    accounts.execute("ALTER TABLE app.acct ADD COLUMN broken int")
    accounts.execute(
        "UPDATE mlops.dedup_rules SET exact_key = 't.email || 1 / t.broken' WHERE target = 'app.acct'::regclass"
    )
    accounts.execute("UPDATE app.acct SET broken = 0 WHERE id = 5")
    for _ in range(3):
        with pytest.raises(psycopg.Error):
            merge(accounts)
    alerts = accounts.execute("SELECT kind, run_id, resolved_at IS NULL FROM mlops.alerts").fetchall()
    first_run = accounts.execute("SELECT min(run_id) FROM mlops.dedup_runs").fetchone()[0]
    assert alerts == [("run_failed", first_run, True)]
    accounts.execute("UPDATE app.acct SET broken = 1")
    run = merge(accounts)
    assert run["status"] == "succeeded"
    assert accounts.execute("SELECT kind, resolved_at IS NOT NULL, resolved_by FROM mlops.alerts").fetchall() == [
        ("run_failed", True, "postgres")
    ]


@pytest.mark.parametrize(
    ("kind", "threshold"),
    [("duplicate_rate", 5), ("duplicate_rate", -0.1), ("duplicate_rate", "NaN"), ("duplicate_rate", None),
     ("review_queue_age", 0), ("review_queue_age", "Infinity"), ("run_failed", 1)],
)  # fmt: skip
def test_alert_limits_that_mean_nothing_are_refused(accounts: psycopg.Connection, kind: str, threshold: object) -> None:
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("UPDATE mlops.alert_settings SET threshold = %s::float8 WHERE kind = %s", (threshold, kind))
    assert exc.value.sqlstate == "23514" and "alert_settings_threshold_check" in str(exc.value)


def test_a_reader_cannot_fake_runs_that_raise_or_resolve_alerts(
    two_owners: psycopg.Connection, accounts: psycopg.Connection
) -> None:
    accounts.execute("GRANT USAGE ON SCHEMA other TO op; GRANT SELECT ON other.t TO op")  # may read, not merge it
    accounts.execute("ALTER TABLE other.t ADD COLUMN broken int DEFAULT 0")
    accounts.execute(
        "UPDATE mlops.dedup_rules SET exact_key = 't.k || 1 / t.broken' WHERE target = 'other.t'::regclass"
    )
    with pytest.raises(psycopg.Error):
        accounts.execute("CALL mlops.merge_duplicates('other.t')")
    (real_run,) = accounts.execute("SELECT max(run_id) FROM mlops.dedup_runs").fetchone()
    # op cannot mark the owner's failed run succeeded, nor set it running again
    two_owners.execute("UPDATE mlops.dedup_runs SET status = 'succeeded' WHERE run_id = %s", (real_run,))
    two_owners.execute("UPDATE mlops.dedup_runs SET status = 'running' WHERE run_id = %s", (real_run,))
    assert accounts.execute("SELECT status FROM mlops.dedup_runs WHERE run_id = %s", (real_run,)).fetchone() == (
        "failed",
    )
    # a run op records of other.t (its own name) is no evidence for the alert rules
    (fake,) = two_owners.execute(
        "INSERT INTO mlops.dedup_runs (target, dry_run) VALUES ('other.t', false) RETURNING run_id"
    ).fetchone()
    two_owners.execute(
        "UPDATE mlops.dedup_runs SET status = 'succeeded', finished_at = now() WHERE run_id = %s", (fake,)
    )
    with pytest.raises(psycopg.Error) as exc:
        two_owners.execute(
            "INSERT INTO mlops.dedup_runs (target, dry_run) VALUES ('other.t', false)"
            " ; UPDATE mlops.dedup_runs SET run_by = 'postgres'"
        )
    assert exc.value.sqlstate == "42501"
    accounts.execute("SELECT count(*) FROM mlops.check_alerts()")
    assert accounts.execute("SELECT kind, run_id, resolved_at IS NULL FROM mlops.alerts").fetchall() == [
        ("run_failed", real_run, True)
    ]


def test_a_merge_cannot_join_a_run_of_another_table(accounts: psycopg.Connection) -> None:
    accounts.execute(
        "CREATE TABLE app.tag (id int PRIMARY KEY, label text); INSERT INTO app.tag VALUES (1, 'a'), (2, 'a')"
    )
    (run_id,) = accounts.execute(
        "INSERT INTO mlops.dedup_runs (target, dry_run) VALUES ('app.acct', false) RETURNING run_id"
    ).fetchone()
    accounts.execute("BEGIN")
    accounts.execute(f"SET LOCAL mlops.run_id = '{run_id}'")
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("SELECT mlops.merge_rows('app.tag', 1, ARRAY[2])")
    accounts.execute("ROLLBACK")
    assert exc.value.sqlstate == "42501" and "of that table" in str(exc.value)


def test_watch_keeps_the_webhooks_path_out_of_urllib3s_log(
    accounts: psycopg.Connection, dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    merge(accounts)
    caplog.set_level("DEBUG")
    alert_watch.watch(dsn, "http://127.0.0.1:9/services/T0/B0/SECRETTOKEN", runner.connect, retries=2, idle_timeout=0.5)
    assert caplog.records and not [r for r in caplog.records if "SECRETTOKEN" in r.getMessage()]
