"""runner.py watch: listen on channel mlops_dedup_alerts and post each alert to a webhook (Slack-compatible JSON).

Alerts are rows of mlops.alerts raised by mlops.check_alerts (at the end of every merge_duplicates run, or on
demand); each new one is also a NOTIFY. The watcher first delivers the open alerts not delivered yet (raised while
nobody listened), then each notified one; a delivered alert gets delivered_at, one that could not be delivered after
the retries keeps delivered_at NULL and says why in delivery_error, and is tried again every retry_every seconds.
Delivery is at least once: a POST whose answer was lost is sent again (alert_id tells a receiver it is the same).
A lost database connection is re-opened, with backoff; nothing raised meanwhile is missed (undelivered alerts are
read again on reconnect).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

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
    backoff (backoff * 2**n seconds, at most 10 s a wait; urllib3's Retry). A Retry-After header is not obeyed: an
    alert's row stays locked while it is posted, so the waits stay bounded (about a minute with 5 retries)."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        backoff_factor=backoff,
        backoff_max=10,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # POST too: a repeated alert is better than a lost one
        raise_on_status=False,
        respect_retry_after_header=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def redacted(url: str) -> str:
    """A webhook's address as logs show it: scheme and host only (Slack's path is its secret)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}{':' + str(parts.port) if parts.port else ''}/…"


def failure(exc: requests.RequestException) -> str:
    """Why a POST failed, without the address (requests' messages repeat the URL, path and secret included)."""
    cause = exc.__cause__ or exc.__context__
    reason = getattr(cause, "reason", None) or cause
    return f"{type(exc).__name__}" + (f" ({type(reason).__name__})" if reason is not None else "")


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
    retries records delivery_error and leaves it for the next pass."""
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
                ok, outcome = False, failure(exc)
            cur.execute(
                "UPDATE mlops.alerts SET delivered_at = CASE WHEN %s THEN clock_timestamp() END,"
                " delivery_error = CASE WHEN %s THEN NULL ELSE %s END WHERE alert_id = %s",
                (ok, ok, outcome[:1000], alert["alert_id"]),
            )
        (log.info if ok else log.warning)("alert %s (%s): %s", alert["alert_id"], alert["kind"], outcome)
        results.append((alert["alert_id"], ok, outcome))
        if not ok:
            # not claimed again in this pass: the next pass (retry_every) tries it
            condition = f"({condition}) AND a.alert_id <> {int(alert['alert_id'])}"


def watch(
    dsn: str,
    webhook: str,
    connect: Callable[[str], psycopg.Connection],
    retries: int = 5,
    check_every: float | None = None,
    retry_every: float = 60.0,
    stop_after: int | None = None,
    idle_timeout: float | None = None,
    on_delivery: Callable[[int, bool, str], None] | None = None,
) -> int:
    """Delivers the undelivered open alerts, then LISTENs on mlops_dedup_alerts and posts each new alert; every
    retry_every seconds (60) it tries the undelivered open ones again. With check_every (seconds) it also runs
    mlops.check_alerts() that often (review queue age, new foreign keys between runs). A lost connection is
    re-opened (waits of 1, 2, 4 … 30 s). Returns the number of alerts delivered; stops after stop_after deliveries
    or idle_timeout seconds without a notification (both for tests; default: runs until interrupted)."""
    session = webhook_session(retries)
    # urllib3 logs each retry with the request's path, a Slack webhook's secret: those records are dropped (ours say
    # what happened without it)
    secret = urlsplit(webhook).path

    def keep_secret(record: logging.LogRecord) -> bool:
        return not secret or secret == "/" or secret not in record.getMessage()

    urllib3_logs = [logging.getLogger(n) for n in list(logging.root.manager.loggerDict) if n.startswith("urllib3")]
    for urllib3_log in urllib3_logs:
        urllib3_log.addFilter(keep_secret)
    try:
        return _watch_loop(
            dsn, webhook, connect, session, check_every, retry_every, stop_after, idle_timeout, on_delivery
        )
    finally:
        for urllib3_log in urllib3_logs:
            urllib3_log.removeFilter(keep_secret)


def _watch_loop(
    dsn: str,
    webhook: str,
    connect: Callable[[str], psycopg.Connection],
    session: requests.Session,
    check_every: float | None,
    retry_every: float,
    stop_after: int | None,
    idle_timeout: float | None,
    on_delivery: Callable[[int, bool, str], None] | None,
) -> int:
    """watch's loop: listen, deliver, retry, reconnect (see watch)."""
    delivered = 0
    reconnect_wait = 1.0
    started = time.monotonic()

    def report(results: list[tuple[int, bool, str]]) -> None:
        nonlocal delivered
        for alert_id, ok, outcome in results:
            delivered += ok
            if on_delivery:
                on_delivery(alert_id, ok, outcome)

    while stop_after is None or delivered < stop_after:
        try:
            with connect(dsn) as listen_conn, connect(dsn) as work_conn:
                listen_conn.execute(f"LISTEN {CHANNEL}")
                reconnect_wait = 1.0
                # what was raised while nobody listened (after LISTEN: nothing raised in between is missed)
                report(deliver(work_conn, session, webhook, "a.resolved_at IS NULL"))
                last_check = last_retry = last_note = time.monotonic()
                while stop_after is None or delivered < stop_after:
                    now = time.monotonic()
                    if idle_timeout is not None and now - last_note >= idle_timeout:
                        return delivered
                    waits = [retry_every - (now - last_retry)]
                    if idle_timeout is not None:
                        waits.append(idle_timeout - (now - last_note))
                    if check_every:
                        waits.append(check_every - (now - last_check))
                    for note in listen_conn.notifies(timeout=max(0.0, min(waits)), stop_after=1):
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
                    if time.monotonic() - last_retry >= retry_every:
                        report(deliver(work_conn, session, webhook, "a.resolved_at IS NULL"))
                        last_retry = time.monotonic()
        except psycopg.OperationalError as exc:
            if idle_timeout is not None and time.monotonic() - started >= idle_timeout:
                raise
            log.warning(
                "database connection lost (%s); connecting again in %.0f s", exc.sqlstate or exc, reconnect_wait
            )
            time.sleep(reconnect_wait)
            reconnect_wait = min(reconnect_wait * 2, 30.0)
    return delivered
