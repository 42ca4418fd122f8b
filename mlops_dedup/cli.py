"""The mlops-dedup command: duplicate detection and foreign-key-safe merging inside PostgreSQL.

`mlops-dedup` (and `python runner.py` in a clone): install, audit, merge, review, stats, undo, grant, alerts, watch,
demo, serve. Argument parsing and output only: what it runs is in mlops_dedup.api and in SQL."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import urllib.parse
from collections.abc import Iterator, Sequence

import psycopg

import mlops_dedup
from mlops_dedup.api import (
    LOG,
    RUN_COLUMNS,
    MergeCancelled,
    RunnerError,
    adopt_platform,
    alerts,
    command_name,
    connect,
    dsn_from_environment,
    fk_policy_report,
    format_audit,
    format_table,
    grant,
    install,
    merge,
    require_platform_tables,
    review,
    run_demo,
    stats,
    summarize,
    undo,
)


def require_dsn(args: argparse.Namespace) -> str:
    dsn = dsn_from_environment(args.dsn)
    if dsn is None:
        raise RunnerError("no database given: pass --dsn URL, or set DATABASE_URL or the libpq PG* variables")
    return dsn


def cmd_install(args: argparse.Namespace) -> None:
    dsn = require_dsn(args)
    if args.platform:
        with connect(dsn) as conn:
            require_platform_tables(conn)  # before anything changes
    print(install(dsn, up_to=args.to, extension_schema=args.extension_schema).summary())
    if args.platform:
        print(adopt_platform(dsn).summary())


def cmd_audit(args: argparse.Namespace) -> None:
    rows = fk_policy_report(require_dsn(args), args.schema)
    if args.json:
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
    else:
        print("\n".join(format_audit(rows)) if rows else "no foreign keys found")


def cmd_demo(args: argparse.Namespace) -> None:
    # Only an explicit --dsn: DATABASE_URL and PG* name the user's database, which the demo must not write into.
    run_demo(args.dsn, keep=args.keep, yes=args.yes)


def cmd_merge(args: argparse.Namespace) -> None:
    try:
        runs = merge(require_dsn(args), args.target, args.dry_run, args.batch_size, args.full)
    except MergeCancelled as cancel:
        print_merge_result(cancel.runs, args.json)
        raise
    except (psycopg.Error, RunnerError) as exc:
        if args.json:  # refused before any run (unknown table, rights, a transaction block, an old package)
            message = exc.diag.message_primary if isinstance(exc, psycopg.Error) else None
            refused = {"status": "error", "errors": 1, "sqlstate": getattr(exc, "sqlstate", None)}
            print(
                json.dumps({**summarize([]), **refused, "failed": [message or str(exc)]}, indent=2, ensure_ascii=False)
            )
        raise
    print_merge_result(runs, args.json)
    # a failed run, or one cancelled from elsewhere (pg_cancel_backend): the command fails, naming them
    failed = [r for r in runs if r["status"] in ("failed", "cancelled")]
    if failed:
        raise RunnerError("; ".join(f"run {r['run_id']} ({r['target']}) {r['status']}: {r['error']}" for r in failed))


def print_merge_result(runs: list[dict], as_json: bool) -> None:
    """--json: the summary (status, errors, counts, runs: what the platform's batch manager printed, plus counts);
    else a table of the runs, the troubled ones' errors and one line of totals."""
    summary = summarize(runs)
    if as_json:
        print(json.dumps(summary, indent=2, default=str, ensure_ascii=False))
        return
    print("\n".join(format_table(runs, RUN_COLUMNS)))
    for run in runs:
        if run["status"] in ("partial", "cancelled"):
            print(f"run {run['run_id']} ({run['target']}) {run['status']}: {run['error']}")
    print(
        f"status: {summary['status']}, errors: {summary['errors']}, rows merged: {summary['rows_merged']}, "
        f"references moved: {summary['references_moved']}, pairs queued for review: {summary['candidates_queued']}"
    )


def cmd_review(args: argparse.Namespace) -> None:
    decided = review(require_dsn(args), args.target)
    print("\n" + ", ".join(f"{n} {what}" for what, n in decided.items()))


def cmd_stats(args: argparse.Namespace) -> None:
    result = stats(require_dsn(args))
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return
    for view, rows in result.items():
        print(f"mlops.{view}")
        print("\n".join(format_table(rows, list(rows[0]) if rows else ["(no rules)"])) + "\n")


def cmd_undo(args: argparse.Namespace) -> None:
    undo(require_dsn(args), args.merge_id)
    print(f"merge {args.merge_id} undone")


def cmd_grant(args: argparse.Namespace) -> None:
    rows = grant(require_dsn(args), args.role, args.rule_writer, args.revoke)
    what = "revoked from" if args.revoke else "granted to"
    print("\n".join(format_table(rows, ["object_type", "object_name", "privilege"])))
    print(f"{len(rows)} privilege(s) on the package's objects {what} {args.role}")


def cmd_serve(args: argparse.Namespace) -> None:
    # Only an explicit --dsn: without one the console serves an embedded throwaway database with the demo's data.
    from mlops_dedup.webconsole.server import serve  # Flask and waitress: needed by this command only

    try:
        serve(args.dsn, args.host, args.port, args.token)
    except KeyboardInterrupt:  # Ctrl-C while the demo data loads: the embedded server is stopped on the way out
        print("\nstopped", file=sys.stderr)


ALERT_COLUMNS = ["alert_id", "kind", "severity", "target", "run_id", "raised_at", "message"]


def cmd_alerts(args: argparse.Namespace) -> None:
    rows = alerts(require_dsn(args), args.check)
    if args.json:
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
    else:
        print("\n".join(format_table(rows, ALERT_COLUMNS)) if rows else "no open alerts")


def cmd_watch(args: argparse.Namespace) -> None:
    from mlops_dedup import alert_watch  # requests is needed by this command only

    dsn = require_dsn(args)
    hook = urllib.parse.urlsplit(args.webhook)
    if hook.scheme not in ("http", "https") or not hook.hostname:
        raise RunnerError(f"--webhook must be an http:// or https:// URL with a host, got {args.webhook!r}")
    where = alert_watch.redacted(args.webhook)
    print(f"listening on {alert_watch.CHANNEL}; posting alerts to {where} (Ctrl-C stops)", file=sys.stderr)
    try:
        alert_watch.watch(dsn, args.webhook, connect, retries=args.retries, check_every=args.check_every)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=command_name(), description=__doc__.splitlines()[0].removesuffix("."))
    parser.add_argument("--version", action="version", version=f"mlops-dedup {mlops_dedup.__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dsn", help="libpq connection string or URL (default: DATABASE_URL, then PG* variables)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("install", parents=[common], help="apply pending migrations and re-apply every routine")
    p.add_argument("--to", type=int, metavar="VERSION", help="apply migrations only up to this version")
    p.add_argument(
        "--platform",
        action="store_true",
        help="also adopt the crawling platform's tables: CASCADE FKs, soft-delete columns, its dedup rules",
    )
    p.add_argument(
        "--extension-schema",
        metavar="SCHEMA",
        help="where to create pg_trgm and fuzzystrmatch if missing (default: the connection's default schema)",
    )
    p.set_defaults(func=cmd_install)

    p = sub.add_parser(
        "audit",
        parents=[common],
        help="FK policy report: delete actions, unindexed FKs, declared references, references without an FK",
    )
    p.add_argument("--schema", default=None, help="only FKs from or to this schema (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("merge", parents=[common], help="CALL mlops.merge_duplicates: detect and merge in batches")
    p.add_argument("--target", help="one table (default: every enabled rule)")
    p.add_argument("--dry-run", action="store_true", help="record what would happen, change nothing")
    p.add_argument("--batch-size", type=int, default=500, help="clusters per committed batch (default 500)")
    p.add_argument(
        "--full", action="store_true", help="read the whole table, not only the rows changed since the last run"
    )
    p.add_argument("--json", action="store_true", help="machine-readable summary")
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("review", parents=[common], help="decide pending review pairs (reads answers from stdin)")
    p.add_argument("--target", help="only this table's pairs")
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("stats", parents=[common], help="mlops.dedup_stats and mlops.data_quality")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("undo", parents=[common], help="mlops.unmerge(MERGE_ID)")
    p.add_argument("merge_id", type=int)
    p.set_defaults(func=cmd_undo)

    p = sub.add_parser("grant", parents=[common], help="mlops.grant_usage: what ROLE needs to merge, undo, review")
    p.add_argument("role", help="an existing role (case as written)")
    p.add_argument("--rule-writer", action="store_true", help="also let it write mlops.dedup_rules")
    p.add_argument("--revoke", action="store_true", help="take it all back (mlops.revoke_usage)")
    p.set_defaults(func=cmd_grant)

    p = sub.add_parser("alerts", parents=[common], help="open alerts (mlops.alerts); --check evaluates the rules now")
    p.add_argument("--check", action="store_true", help="run mlops.check_alerts() first")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("watch", parents=[common], help="post each alert to a webhook as it is raised (LISTEN)")
    p.add_argument("--webhook", required=True, metavar="URL", help="where to POST each alert (Slack-compatible JSON)")
    p.add_argument("--retries", type=int, default=5, help="retries per alert on errors and 429/5xx (default 5)")
    p.add_argument(
        "--check-every",
        type=float,
        metavar="SECONDS",
        help="also evaluate the alert rules this often (review queue age, new FKs between runs)",
    )
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("demo", help="embedded server, generated data, audit, dry run, merge, stats")
    p.add_argument("--dsn", help="run in this database instead of an embedded throwaway server (must be empty)")
    p.add_argument("--yes", action="store_true", help="with --dsn: use the database even if it is not empty")
    p.add_argument("--keep", action="store_true", help="keep the embedded server running afterwards (prints how)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("serve", help="the web console (review, dashboard, merges, FK audit, alerts) under waitress")
    p.add_argument("--dsn", help="serve this database (default: an embedded throwaway server with the demo's data)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need a token)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--token", help="login token (default: env MLOPS_DEDUP_CONSOLE_TOKEN); required off loopback")
    p.set_defaults(func=cmd_serve)
    return parser


class CommandLineFormatter(logging.Formatter):
    """The server's lines (logger mlops_dedup) as psql shows them; the runner's own (mlops_dedup.watch) with time and
    level."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return record.getMessage() if record.name == LOG.name else super().format(record)


@contextlib.contextmanager
def server_messages_on_stderr() -> Iterator[None]:
    """While a command runs, everything logged under "mlops_dedup" (INFO and up: the database's NOTICEs and WARNINGs,
    the watcher's lines) goes to stderr, once; the logger is as it was afterwards (main() called from a program)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CommandLineFormatter())
    level, propagate = LOG.level, LOG.propagate
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False  # `watch` configures the root logger too (urllib3's lines): each line once
    try:
        yield
    finally:
        LOG.removeHandler(handler)
        LOG.setLevel(level)
        LOG.propagate = propagate


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler or `kill` stopping the command): handled as Ctrl-C is, so a merge is cancelled on the
    server and recorded, not left running."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While a command runs in the main thread, SIGTERM raises Terminated (a KeyboardInterrupt) where Ctrl-C would."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: returns the exit status (0 done, 1 an error or a failed or cancelled run, 130 stopped by
    Ctrl-C, 143 by SIGTERM)."""
    args = build_parser().parse_args(argv)
    try:
        with sigterm_as_interrupt(), server_messages_on_stderr():
            args.func(args)
    except KeyboardInterrupt as interrupt:
        # Ctrl-C or SIGTERM: no traceback; a merge says which runs it recorded and that the interrupted one is
        # cancelled
        runs = interrupt.runs if isinstance(interrupt, MergeCancelled) else []
        cancelled = [f"run {r['run_id']} ({r['target']})" for r in runs if r["status"] == "cancelled"]
        print("\ncancelled" + (f": {', '.join(cancelled)} recorded as cancelled" if cancelled else ""), file=sys.stderr)
        terminated = isinstance(interrupt, Terminated) or isinstance(interrupt.__cause__, Terminated)
        return 143 if terminated else 130
    except BrokenPipeError:
        # `runner.py alerts | head`: the reader left; no traceback, and none at exit when Python flushes stdout
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except RunnerError as exc:
        print(f"error: {str(exc).strip()}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        diag = exc.diag
        print(
            f"error: {diag.message_primary or str(exc).strip()}" + (f" ({exc.sqlstate})" if exc.sqlstate else ""),
            file=sys.stderr,
        )
        for label, text in (("DETAIL", diag.message_detail), ("HINT", diag.message_hint)):
            if text:
                print(f"{label}: {text}", file=sys.stderr)
        return 1
    return 0
