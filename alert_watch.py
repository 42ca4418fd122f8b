"""runner.py watch: listen on channel mlops_dedup_alerts and post each alert to a webhook (Slack-compatible JSON).

Alerts are rows of mlops.alerts raised by mlops.check_alerts (at the end of every merge_duplicates run, or on
demand); each new one is also a NOTIFY. The watcher first delivers the open alerts not delivered yet (raised while
nobody listened), then each notified one; a delivered alert gets delivered_at, one that could not be delivered after
the retries keeps delivered_at NULL and says why in delivery_error (the next start tries it again).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg
import requests
from psycopg.rows import dict_row
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

CHANNEL = "mlops_dedup_alerts"
log = logging.getLogger("mlops_dedup.watch")

# Claimed with SKIP LOCKED: two watchers never post the same alert twice; the lock is held while posting.
CLAIM_SQL = """
SELECT a.alert_id, a.kind, a.severity, a.target::text AS target, a.run_id, a.message, a.detail, a.raised_at,
    a.raised_by, a.resolved_at
FROM mlops.alerts AS a
WHERE a.delivered_at IS NULL AND ({condition})
ORDER BY a.alert_id
FOR UPDATE OF a SKIP LOCKED
"""


def webhook_session(retries: int = 5, backoff: float = 0.5) -> requests.Session:
    """A requests session that retries a POST on connection errors and on 429/500/502/503/504, with exponential
    backoff (backoff * 2**n seconds; urllib3's Retry, honouring Retry-After)."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # POST too: a repeated alert is better than a lost one
        raise_on_status=False,
        respect_retry_after_header=True,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def alert_payload(alert: dict[str, Any]) -> dict[str, Any]:
    """The JSON posted for one alert: `text` (what Slack's incoming webhooks show) and the whole alert (alert_id,
    kind, severity, target, run_id, message, detail, raised_at, raised_by) for other receivers."""
    icon = ":rotating_light:" if alert["severity"] == "critical" else ":warning:"
    where = f" {alert['target']}" if alert.get("target") else ""
    text = (
        f"{icon} mlops-dedup {alert['severity']} alert {alert['alert_id']} ({alert['kind']}){where}: {alert['message']}"
    )
    return {"text": text, "alert": json.loads(json.dumps(alert, default=str))}


def deliver(
    conn: psycopg.Connection,
    session: requests.Session,
    webhook: str,
    condition: str = "true",
    params: tuple[Any, ...] = (),
    timeout: float = 10.0,
) -> list[tuple[int, bool, str]]:
    """Posts the undelivered alerts matching condition (SQL over alias a), one transaction each; returns
    (alert_id, delivered, what happened) per alert. A 2xx answer marks it delivered; anything else after the
    retries records delivery_error and leaves it for the next start."""
    results: list[tuple[int, bool, str]] = []
    while True:
        with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
            alert = cur.execute(CLAIM_SQL.format(condition=condition) + " LIMIT 1", params).fetchone()
            if alert is None:
                return results
            try:
                answer = session.post(webhook, json=alert_payload(alert), timeout=timeout)
                ok = 200 <= answer.status_code < 300
                outcome = f"HTTP {answer.status_code}"
            except requests.RequestException as exc:
                ok, outcome = False, f"{type(exc).__name__}: {exc}"
            cur.execute(
                "UPDATE mlops.alerts SET delivered_at = CASE WHEN %s THEN clock_timestamp() END,"
                " delivery_error = CASE WHEN %s THEN NULL ELSE %s END WHERE alert_id = %s",
                (ok, ok, outcome[:1000], alert["alert_id"]),
            )
        (log.info if ok else log.warning)("alert %s (%s): %s", alert["alert_id"], alert["kind"], outcome)
        results.append((alert["alert_id"], ok, outcome))
        if not ok:
            # not claimed again in this pass: the next notification or start tries it
            condition = f"({condition}) AND a.alert_id <> {int(alert['alert_id'])}"


def watch(
    dsn: str,
    webhook: str,
    connect: Callable[[str], psycopg.Connection],
    retries: int = 5,
    check_every: float | None = None,
    stop_after: int | None = None,
    idle_timeout: float | None = None,
    on_delivery: Callable[[int, bool, str], None] | None = None,
) -> int:
    """Delivers the undelivered open alerts, then LISTENs on mlops_dedup_alerts and posts each new alert. With
    check_every (seconds) it also runs mlops.check_alerts() that often (review queue age, new foreign keys between
    runs). Returns the number of alerts delivered; stops after stop_after deliveries or idle_timeout seconds without
    a notification (both for tests; default: runs until interrupted). Errors: psycopg.Error from the database."""
    session = webhook_session(retries)
    delivered = 0

    def report(results: list[tuple[int, bool, str]]) -> None:
        nonlocal delivered
        for alert_id, ok, outcome in results:
            delivered += ok
            if on_delivery:
                on_delivery(alert_id, ok, outcome)

    with connect(dsn) as listen_conn, connect(dsn) as work_conn:
        listen_conn.execute(f"LISTEN {CHANNEL}")
        # what was raised while nobody listened (after LISTEN: nothing raised in between is missed)
        report(deliver(work_conn, session, webhook, "a.resolved_at IS NULL"))
        last_check = last_note = time.monotonic()
        while stop_after is None or delivered < stop_after:
            now = time.monotonic()
            if idle_timeout is not None and now - last_note >= idle_timeout:
                break
            waits = [
                w
                for w in (
                    None if idle_timeout is None else idle_timeout - (now - last_note),
                    None if not check_every else check_every - (now - last_check),
                )
                if w is not None
            ]
            for note in listen_conn.notifies(timeout=max(0.0, min(waits)) if waits else None, stop_after=1):
                last_note = time.monotonic()
                try:
                    alert_id = int(json.loads(note.payload)["alert_id"])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a notification that names no alert: %r", note.payload[:200])
                    continue
                report(deliver(work_conn, session, webhook, "a.alert_id = %s", (alert_id,)))
            if check_every and time.monotonic() - last_check >= check_every:
                # its alerts arrive as notifications
                work_conn.execute("SELECT count(*) FROM mlops.check_alerts()")
                last_check = time.monotonic()
    return delivered
