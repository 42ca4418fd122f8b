"""runner.py serve: the console under waitress, on a given database or on an embedded throwaway server with the
demo's data."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import sys
from collections.abc import Iterator

import waitress

import runner
from webconsole.app import create_app

TOKEN_VARIABLE = "MLOPS_DEDUP_CONSOLE_TOKEN"


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
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    if token is None and not is_loopback(host):
        raise runner.RunnerError(
            f"serve --host {host}: a console reachable from other machines needs a login token; pass --token TOKEN "
            f"or set {TOKEN_VARIABLE} (e.g. to the output of: python -c 'import secrets; "
            "print(secrets.token_urlsafe())'), or serve on 127.0.0.1"
        )
    return token


@contextlib.contextmanager
def demo_database() -> Iterator[str]:
    """An embedded throwaway PostgreSQL with the demo's data (runner.run_demo); stopped and removed on exit."""
    print("starting an embedded throwaway PostgreSQL with the demo's data …", flush=True)
    server = runner.EmbeddedPostgresql()
    try:
        runner.run_demo(server.url(), yes=True)
        yield server.url()
    finally:
        server.stop()
        print("the embedded server is stopped and removed", flush=True)


def serve(dsn: str | None, host: str = "127.0.0.1", port: int = 8000, token: str | None = None) -> None:
    """Serve the console with waitress until Ctrl-C. dsn None: an embedded demo database, removed at the end.
    RunnerError (nothing started) for a non-loopback host without a token."""
    token = resolve_token(host, token)
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
