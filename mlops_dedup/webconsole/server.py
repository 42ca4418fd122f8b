"""runner.py serve: the console under waitress, on a given database or on an embedded throwaway server with the
demo's data."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Iterator

import waitress

from mlops_dedup import api
from mlops_dedup.webconsole.app import create_app

TOKEN_VARIABLE = "MLOPS_DEDUP_CONSOLE_TOKEN"
MIN_TOKEN_LENGTH = 16


def is_loopback(host: str) -> bool:
    """True for localhost and loopback addresses (127.0.0.0/8, ::1); anything else (0.0.0.0 included) is not."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token: str | None) -> str | None:
    """The login token: --token, else MLOPS_DEDUP_CONSOLE_TOKEN, else None. RunnerError when host is not a loopback
    address and there is none: the console then serves the network and must not without a login."""
    token = (token or os.environ.get(TOKEN_VARIABLE) or "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH and not is_loopback(host):
        raise api.RunnerError(
            f"serve --host {host}: the login token is {len(token)} characters; one that guards a console reachable "
            f"from other machines needs at least {MIN_TOKEN_LENGTH} (e.g. python -c 'import secrets; "
            "print(secrets.token_urlsafe())')"
        )
    if token is None and not is_loopback(host):
        raise api.RunnerError(
            f"serve --host {host}: a console reachable from other machines needs a login token; pass --token TOKEN "
            f"or set {TOKEN_VARIABLE} (e.g. to the output of: python -c 'import secrets; "
            "print(secrets.token_urlsafe())'), or serve on 127.0.0.1"
        )
    return token


# Later crawls of the demo: each plants URL variants of live letters and postings, and heavy rewrites of letters
# (review band), then merges; the dashboard's trends get a point per round.
DEMO_ROUNDS = (60, 25, 40)
REWRITE_WORDS = 36  # words a rewrite changes: similarity in the letters' review band (0.55-0.8)
DEMO_ROUND_SQL = (
    """
INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT l.url || CASE WHEN l.n %% 4 = 0 THEN '/rewrite' ELSE '?utm_source=crawl' END || %(round)s, l.title, NULL,
    l.position, CASE WHEN l.n %% 4 = 0 THEN pg_temp.datagen_edit(l.content, %(rewrite_words)s) ELSE l.content END
FROM (SELECT l.*, row_number() OVER (ORDER BY random()) AS n FROM mlops.cover_letter_samples AS l
      WHERE l.merged_into IS NULL) AS l
WHERE l.n <= %(copies)s
""",
    """
INSERT INTO mlops.job_postings (url, title, company, location, description)
SELECT replace(j.url, 'https://', 'https://www.') || '/?utm_medium=crawl' || %(round)s, j.title, j.company,
    j.location, j.description
FROM mlops.job_postings AS j WHERE j.merged_into IS NULL ORDER BY random() LIMIT %(copies)s / 2
""",
)


def load_demo(dsn: str, rounds: tuple[int, ...] = DEMO_ROUNDS) -> None:
    """api.run_demo into dsn, then one more merge per entry of rounds after planting that many copies."""
    from mlops_dedup import datagen

    api.run_demo(dsn, yes=True)
    for number, copies in enumerate(rounds, start=2):
        with api.connect(dsn) as conn:
            datagen.setup_functions(conn)
            for statement in DEMO_ROUND_SQL:
                conn.execute(statement, {"round": str(number), "copies": copies, "rewrite_words": REWRITE_WORDS})
        runs = api.merge(dsn)
        with api.connect(dsn) as conn:
            # incremental runs count the data-quality metrics hourly; the demo's crawls come seconds apart
            conn.execute("SELECT count(*) FROM mlops.record_metrics()")
        print(f"crawl {number}: " + ", ".join(f"{r['target']} merged {r['rows_merged']}" for r in runs), flush=True)


@contextlib.contextmanager
def demo_database() -> Iterator[str]:
    """An embedded throwaway PostgreSQL with the demo's data (load_demo); stopped and removed on exit."""
    print("starting an embedded throwaway PostgreSQL with the demo's data …", flush=True)
    server = api.EmbeddedPostgresql()
    try:
        load_demo(server.url())
        yield server.url()
    finally:
        server.stop()
        print("the embedded server is stopped and removed", flush=True)


def _stop_on_signals() -> None:
    """Ctrl-C and SIGTERM end serve as KeyboardInterrupt, whatever the parent left them as (a shell that ran us in the
    background ignores SIGINT), so the embedded server is always stopped and removed."""

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, interrupt)


def serve(dsn: str | None, host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> None:
    """Serve the console with waitress until Ctrl-C or SIGTERM. dsn None: an embedded demo database, removed at the
    end. RunnerError (nothing started) for a non-loopback host without a token."""
    token = resolve_token(host, token)
    _stop_on_signals()
    with contextlib.ExitStack() as stack:
        if dsn is None:
            dsn = stack.enter_context(demo_database())
        app = create_app(dsn, token)
        server = waitress.create_server(app, host=host, port=port, threads=4)
        where = f"http://{host if ':' not in host else f'[{host}]'}:{server.effective_port}/"
        print(f"console: {where}" + ("  (log in with the token)" if token else "") + "  — Ctrl-C stops it", flush=True)
        try:
            server.run()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
        print("\nconsole stopped", file=sys.stderr, flush=True)
