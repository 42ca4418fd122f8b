"""/alerts: open and recent alerts; Check now (mlops.check_alerts) and Resolve (mlops.resolve_alert), both logged."""

from __future__ import annotations

from typing import Any

import psycopg
from flask import Blueprint, flash, redirect, render_template, url_for

from mlops_dedup.webconsole.app import db, error_detail, flash_error, log_action, query

bp = Blueprint("alerts", __name__)

ALERT_COLUMNS = (
    "alert_id, kind, severity, target::text AS target, run_id, message, detail, raised_at, raised_by, resolved_at,"
    " resolved_by, delivered_at"
)


@bp.get("/alerts")
def page() -> str:
    """Open alerts (critical first), then the 50 most recently resolved."""
    return render_template(
        "alerts.html",
        open_alerts=query(
            f"SELECT {ALERT_COLUMNS} FROM mlops.alerts WHERE resolved_at IS NULL"
            " ORDER BY severity = 'critical' DESC, raised_at DESC"
        ),
        resolved=query(
            f"SELECT {ALERT_COLUMNS} FROM mlops.alerts WHERE resolved_at IS NOT NULL ORDER BY resolved_at DESC LIMIT 50"
        ),
        settings=query("SELECT kind, enabled, threshold, description FROM mlops.alert_settings ORDER BY kind"),
    )


@bp.post("/alerts/check")
def check() -> Any:
    """mlops.check_alerts(): the alerts it raised are flashed; logged as check_alerts."""
    try:
        with db().transaction():
            raised = query("SELECT alert_id, kind, severity, message FROM mlops.check_alerts()")
    except psycopg.Error as exc:
        log_action("check_alerts", False, detail=error_detail(exc))
        flash_error("alerts not checked", exc)
        return redirect(url_for("alerts.page"))
    log_action("check_alerts", True, detail={"raised": [a["alert_id"] for a in raised]})
    if raised:
        # the session cookie holds flashes: a few messages, not all of them (the page lists every open alert)
        shown = "; ".join(a["message"][:200] for a in raised[:3]) + ("; …" if len(raised) > 3 else "")
        flash(f"Check done: {len(raised)} new alert(s): {shown}", "warning")
    else:
        flash("Check done: no new alerts.", "success")
    return redirect(url_for("alerts.page"))


@bp.post("/alerts/<int:alert_id>/resolve")
def resolve(alert_id: int) -> Any:
    """mlops.resolve_alert(alert_id), logged as resolve_alert."""
    targets = query("SELECT target::text AS target FROM mlops.alerts WHERE alert_id = %s", (alert_id,))
    target = targets[0]["target"] if targets else None
    try:
        with db().transaction():
            db().execute("SELECT mlops.resolve_alert(%s::bigint)", (alert_id,))
    except psycopg.Error as exc:
        log_action("resolve_alert", False, target, alert_id, error_detail(exc))
        flash_error(f"alert {alert_id} not resolved", exc)
        return redirect(url_for("alerts.page"))
    log_action("resolve_alert", True, target, alert_id)
    flash(f"Alert {alert_id} resolved.", "success")
    return redirect(url_for("alerts.page"))
