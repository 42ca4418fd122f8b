"""The console's Flask application: security (login token, session cookie, CSRF, headers), one database connection
per request, the action log, and the page blueprints."""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import threading
import time
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import psycopg
from flask import Flask, Response, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from psycopg.rows import dict_row

from mlops_dedup import api
from mlops_dedup.webconsole import plotly_assets

# Only our own origin: scripts (ours and plotly.js) from files, figures as JSON data read by our script.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# A wrong token costs this long (per request, in its worker thread): guessing stays slow.
LOGIN_FAILURE_DELAY = 1.0
_LOGIN_FAILURES = threading.Lock()
# Pages reachable without the login token (when one is required).
PUBLIC_ENDPOINTS = {"login", "static"}


def create_app(dsn: str, token: str | None = None, *, secret_key: bytes | None = None) -> Flask:
    """The console for the database of dsn (libpq string or URL), every query as that DSN's role.

    token: when set, every page but /login needs it first (a session cookie afterwards). secret_key signs the session
    cookie; by default a random one per process, so a restart logs everyone out. Nothing is connected here: each
    request opens its own connection (api.connect) and closes it at the end.
    """
    app = Flask(__name__)
    app.config.update(
        DSN=dsn,
        CONSOLE_TOKEN=token or None,
        SECRET_KEY=secret_key or secrets.token_bytes(32),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        WTF_CSRF_TIME_LIMIT=None,  # valid as long as the session (a restart changes the key anyway)
        MAX_CONTENT_LENGTH=64 * 1024,
        REVOKED_SESSIONS=set(),
    )
    if not token:
        # Without a login, only a browser that asked for this machine by a loopback name is served: a page elsewhere
        # that rebinds its own host name to 127.0.0.1 (DNS rebinding) gets HTTP 400, not the console.
        app.before_request(_require_loopback_host)
    CSRFProtect(app)
    app.before_request(_require_login)
    app.after_request(_security_headers)
    app.teardown_appcontext(_close_connection)
    app.register_error_handler(CSRFError, _csrf_refused)
    app.register_error_handler(psycopg.Error, _database_error)
    app.jinja_env.filters.update(when=format_when, num=format_number, jsonpretty=format_json, cell=format_cell)
    app.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    app.add_url_rule("/logout", "logout", logout, methods=["POST"])
    app.add_url_rule("/vendor/plotly.min.js", "plotly_js", plotly_js)
    app.add_url_rule("/vendor/plotly.css", "plotly_css", plotly_css)
    app.jinja_env.globals.update(plotly_style_id=plotly_assets.GLOBAL_STYLE_ID, plotly_assets=plotly_assets)

    from mlops_dedup.webconsole import alerts, audit, dashboard, merges, review

    for module in (dashboard, review, merges, audit, alerts):
        app.register_blueprint(module.bp)
    return app


# ---------------------------------------------------------------- database

BIGINT_MAX = 2**63 - 1


def text_arg(name: str) -> str | None:
    """A text parameter of the query string; None when absent, and (flashed) when it holds a NUL character, which no
    PostgreSQL text can."""
    value = request.args.get(name) or None
    if value is not None and "\x00" in value:
        flash(f"{name}: a NUL character is not allowed; ignored", "error")
        return None
    return value


def db() -> psycopg.Connection:
    """This request's connection (autocommit, pinned search_path; opened on first use, closed at its end)."""
    if "db" not in g:
        g.db = api.connect(current_app.config["DSN"])
    return g.db


def _close_connection(_exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def query(sql: str, params: Any = None) -> list[dict[str, Any]]:
    """Rows of a query as dicts, on this request's connection."""
    with db().cursor(row_factory=dict_row) as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else []


def error_detail(exc: psycopg.Error) -> dict[str, Any]:
    """An error as the log and the flash show it: sqlstate, message, detail, hint (None when absent)."""
    diag = exc.diag
    return {
        "sqlstate": exc.sqlstate,
        "message": diag.message_primary or str(exc).strip(),
        "detail": diag.message_detail,
        "hint": diag.message_hint,
    }


def flash_error(what: str, exc: psycopg.Error) -> None:
    """A flash message for a failed action: what, the message, SQLSTATE, DETAIL and HINT."""
    e = error_detail(exc)
    text = f"{what}: {e['message']} (SQLSTATE {e['sqlstate']})"
    text += "".join(f" {label}: {e[key]}" for label, key in (("DETAIL", "detail"), ("HINT", "hint")) if e[key])
    flash(text, "error")


def log_action(
    action: str,
    succeeded: bool,
    target: str | None = None,
    object_id: Any = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """One row of mlops.console_actions, in its own transaction (autocommit), as the DSN's role. A log that cannot be
    written (e.g. a role without INSERT on it) is flashed, never raised: the action itself already happened."""
    values = {
        "action": action,
        "target": target,
        "object_id": None if object_id is None else str(object_id),
        "detail": detail or {},
        "succeeded": succeeded,
        "client": request.remote_addr,
    }
    try:
        _insert_action(values)
    except psycopg.Error:
        # the table's name does not resolve for this role (no USAGE on its schema, dropped): logged without it
        try:
            _insert_action({**values, "target": None, "detail": {**values["detail"], "target": target}})
        except psycopg.Error as exc:
            flash_error(f"the action log was not written ({action})", exc)


def _insert_action(values: dict[str, Any]) -> None:
    with db().transaction():
        db().execute(
            "INSERT INTO mlops.console_actions (action, target, object_id, detail, succeeded, client)"
            " VALUES (%(action)s, %(target)s::regclass, %(object_id)s, %(detail)s::jsonb, %(succeeded)s, %(client)s)",
            {**values, "detail": json.dumps(values["detail"], default=str)},
        )


# ---------------------------------------------------------------- security


def _require_loopback_host() -> Response | None:
    """HTTP 400 unless the request's Host names a loopback address (127.0.0.0/8, ::1) or localhost."""
    try:
        host = urlsplit(f"//{request.host}").hostname or ""
    except ValueError:
        host = ""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return Response("this console answers only to a loopback address (start it with a token to serve others)", 400)


def _require_login() -> Response | None:
    if not current_app.config["CONSOLE_TOKEN"] or request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if session.get("logged_in") and session.get("sid") not in current_app.config["REVOKED_SESSIONS"]:
        return None
    if request.method != "GET":
        return Response("login required", status=401)
    return redirect(url_for("login", next=request.full_path.rstrip("?")))


def _security_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response


def _csrf_refused(exc: CSRFError) -> tuple[str, int]:
    return render_template("error.html", title="Request refused", message=f"{exc.description} Nothing was done."), 400


def _database_error(exc: psycopg.Error) -> tuple[str, int]:
    """A page whose query failed (a table dropped or not readable by the DSN's role, a timeout): the database's
    message, SQLSTATE, DETAIL and HINT, HTTP 403 for missing privileges, else 500; never a traceback."""
    e = error_detail(exc)
    message = f"{e['message']} (SQLSTATE {e['sqlstate']})"
    message += "".join(f" {label}: {e[key]}" for label, key in (("DETAIL", "detail"), ("HINT", "hint")) if e[key])
    status = 403 if e["sqlstate"] == "42501" else 500
    return render_template("error.html", title="The database refused this page", message=message), status


def _safe_next(target: str | None) -> str:
    """A redirect target on this site only (a path), else the dashboard. Browsers read a backslash as a slash
    (`/\\evil.example` is `//evil.example`), so one anywhere, or a control character, is refused too."""
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and "\\" not in target
        and target.isprintable()
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("dashboard.page")


def login() -> Any:
    """GET: the token form. POST: the token compared in constant time; right: a fresh session, wrong: 403, logged
    as login_refused."""
    token = current_app.config["CONSOLE_TOKEN"]
    if not token:
        return redirect(url_for("dashboard.page"))
    if request.method == "POST":
        given = request.form.get("token", "")
        if hmac.compare_digest(given.encode(), token.encode()):
            session.clear()
            session["logged_in"] = True
            session["sid"] = secrets.token_urlsafe(16)
            return redirect(_safe_next(request.form.get("next")))
        with _LOGIN_FAILURES:  # one wrong token a second, whatever the number of clients guessing in parallel
            time.sleep(LOGIN_FAILURE_DELAY)
        log_action("login_refused", False, detail={"reason": "wrong token"})
        flash("Wrong token.", "error")
        return render_template("login.html", next=request.form.get("next", "")), 403
    return render_template("login.html", next=request.args.get("next", ""))


def logout() -> Any:
    """End the session; its cookie, signed and kept by the browser, is refused from now on (until a restart, which
    changes the signing key and so ends every session)."""
    if session.get("sid"):
        current_app.config["REVOKED_SESSIONS"].add(session["sid"])
    session.clear()
    return redirect(url_for("login") if current_app.config["CONSOLE_TOKEN"] else url_for("dashboard.page"))


def plotly_js() -> Response:
    """plotly.js from the installed plotly package (no CDN)."""
    response = Response(plotly_assets.plotly_js(), mimetype="text/javascript")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


def plotly_css() -> Response:
    """plotly.js's global style rules as a stylesheet (the CSP refuses the <style> element it would insert)."""
    response = Response(plotly_assets.plotly_css(), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response


# ---------------------------------------------------------------- template filters


def format_when(value: Any) -> str:
    """A timestamp to the second, in the server's zone as PostgreSQL sent it; '' for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def format_number(value: Any, digits: int = 3) -> str:
    """Numbers for tables: floats rounded, ints with thousands separators, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def format_json(value: Any) -> str:
    """jsonb as indented text."""
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)


def format_cell(value: Any, limit: int = 400) -> str:
    """A column value as the review page shows it: control characters escaped, long text cut."""
    if value is None:
        return "NULL"
    if isinstance(value, dict | list):
        value = json.dumps(value, default=str, ensure_ascii=False)
    text = api.printable(str(value))
    return text if len(text) <= limit else text[:limit] + " …"
