#!/usr/bin/env python3
"""mlops-dedup runner: install the SQL package, audit FKs, merge duplicates, review, stats, undo, demo.

A thin layer: connection handling, the migration ledger, argument parsing and output.
What decides a merge lives in SQL (sql/functions/).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import testing.postgresql
from psycopg.rows import dict_row

ROOT = Path(__file__).resolve().parent
SQL_DIR = ROOT / "sql"
INSTALL_LOCK_KEY = "mlops-dedup:install"
MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
SERVER_USER = "postgres"

# The ledger must exist before the first migration runs, so it is created here, idempotently.
BOOTSTRAP_SQL = """
CREATE SCHEMA IF NOT EXISTS mlops;
CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA mlops;
CREATE TABLE IF NOT EXISTS mlops.schema_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    sha256 text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT schema_migrations_pkey PRIMARY KEY (version)
);
COMMENT ON TABLE mlops.schema_migrations IS
    'Ledger of applied migrations of mlops-dedup; one row per sql/migrations file, written in its transaction.';
"""


class RunnerError(Exception):
    """An error the runner reports as one line, without a traceback."""


class MigrationError(RunnerError):
    """The migrations on disk and the ledger in the database disagree."""


# ---------------------------------------------------------------- embedded server


class EmbeddedPostgresql(testing.postgresql.Postgresql):
    """testing.postgresql that also works as root: initdb and postgres run as the postgres OS user."""

    def __init__(self, durable: bool = False, **kwargs: Any) -> None:
        if durable:
            # testing.postgresql's default arguments turn fsync off (-F); benchmarks want the real thing.
            kwargs.setdefault("postgres_args", "-h 127.0.0.1 -c logging_collector=off")
        super().__init__(**kwargs)

    def initialize(self) -> None:
        try:
            super().initialize()
        except RuntimeError as exc:
            raise RunnerError(
                "PostgreSQL server binaries (initdb, postgres) not found on PATH or in /usr/lib/postgresql/*/bin: "
                "install them, e.g. `apt-get install postgresql-15` on Debian"
            ) from exc

    def _as_server_user(self, command: list[str]) -> list[str]:
        """Run as the server user when we are root; initdb and postgres refuse to run as root."""
        if os.geteuid() != 0:
            return command
        return ["setpriv", f"--reuid={SERVER_USER}", f"--regid={SERVER_USER}", "--init-groups", *command]

    def _give_base_dir_to_server_user(self) -> None:
        try:
            user = pwd.getpwnam(SERVER_USER)
        except KeyError as exc:
            raise RunnerError(
                f"running as root, but there is no '{SERVER_USER}' OS user to run the server as: "
                "install postgresql-15 (it creates the user) or run as an ordinary user"
            ) from exc
        for directory, _subdirs, files in os.walk(self.base_dir):
            os.chown(directory, user.pw_uid, user.pw_gid)
            for name in files:
                os.chown(os.path.join(directory, name), user.pw_uid, user.pw_gid)

    def initialize_database(self) -> None:
        if os.geteuid() == 0:
            self._give_base_dir_to_server_user()
        data_dir = os.path.join(self.base_dir, "data")
        if os.path.exists(os.path.join(data_dir, "PG_VERSION")):
            return
        command = [self.initdb, "-D", data_dir, "--lc-messages=C", *self.settings["initdb_args"].split()]
        result = subprocess.run(self._as_server_user(command), capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise RunnerError(f"initdb failed: {result.stderr.strip()}")

    def get_server_commandline(self) -> list[str]:
        return self._as_server_user(super().get_server_commandline())


# ---------------------------------------------------------------- connections


def dsn_from_environment(explicit: str | None) -> str | None:
    """--dsn, else DATABASE_URL, else "" when libpq PG* variables are set, else None."""
    if explicit:
        return explicit
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if any(os.environ.get(name) for name in ("PGHOST", "PGDATABASE", "PGSERVICE", "PGPORT", "PGUSER")):
        return ""
    return None


def connect(dsn: str, autocommit: bool = True) -> psycopg.Connection:
    """A connection whose NOTICE lines go to stderr, as psql shows them."""
    conn = psycopg.connect(dsn, autocommit=autocommit)
    conn.add_notice_handler(lambda diag: print(f"{diag.severity}: {diag.message_primary}", file=sys.stderr))
    return conn


# ---------------------------------------------------------------- install


@dataclass
class Migration:
    version: int
    name: str
    path: Path
    sha256: str


@dataclass
class InstallReport:
    applied: list[str] = field(default_factory=list)
    already_applied: int = 0
    routines: int = 0

    def summary(self) -> str:
        if self.applied:
            head = f"applied {len(self.applied)} migration(s): {', '.join(self.applied)}"
        else:
            head = f"no pending migrations ({self.already_applied} already applied); schema unchanged"
        return f"{head}; {self.routines} routine file(s) re-applied"


def read_migrations(sql_dir: Path) -> list[Migration]:
    """The migration files in version order; a misnamed file or a repeated version is an error."""
    migrations: dict[int, Migration] = {}
    for path in sorted((sql_dir / "migrations").glob("*.sql")):
        match = MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNNN_what.sql (lower case)")
        version = int(match.group(1))
        if version in migrations:
            raise MigrationError(f"{path}: version {version} is also used by {migrations[version].path.name}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        migrations[version] = Migration(version, path.stem, path, digest)
    return [migrations[v] for v in sorted(migrations)]


def check_ledger(migrations: list[Migration], ledger: dict[int, tuple[str, str]]) -> None:
    """Refuse when an applied migration's file changed or disappeared."""
    on_disk = {m.version: m for m in migrations}
    for version, (name, sha256) in sorted(ledger.items()):
        migration = on_disk.get(version)
        if migration is None:
            raise MigrationError(
                f"migration {version:04d} ({name}) is applied in the database but has no file here: "
                "this checkout is older than the database"
            )
        if migration.sha256 != sha256:
            raise MigrationError(
                f"{migration.path.name} was changed after it was applied (ledger sha256 {sha256[:12]}…, "
                f"file {migration.sha256[:12]}…): applied migrations are never edited; "
                "put the change in a new migration"
            )


def applies_fully(migrations: list[Migration], up_to: int | None) -> bool:
    """True when an install with this --to reaches the last migration."""
    return up_to is None or not migrations or up_to >= migrations[-1].version


def install(dsn: str, sql_dir: Path = SQL_DIR, up_to: int | None = None) -> InstallReport:
    """Apply pending migrations (each with its ledger row, in one transaction), then every routine file."""
    migrations = read_migrations(sql_dir)
    report = InstallReport()
    with connect(dsn) as conn:
        # One installer at a time per database; a session lock, released below.
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (INSTALL_LOCK_KEY,))
        try:
            with conn.transaction():
                conn.execute(BOOTSTRAP_SQL)
            ledger = {
                version: (name, sha256)
                for version, name, sha256 in conn.execute("SELECT version, name, sha256 FROM mlops.schema_migrations")
            }
            check_ledger(migrations, ledger)
            report.already_applied = len(ledger)
            for migration in migrations:
                if migration.version in ledger or (up_to is not None and migration.version > up_to):
                    continue
                with conn.transaction():
                    conn.execute(migration.path.read_text())
                    conn.execute(
                        "INSERT INTO mlops.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.sha256),
                    )
                report.applied.append(migration.path.name)
            with conn.transaction():
                for path in sorted((sql_dir / "functions").glob("*.sql")):
                    conn.execute(path.read_text())
                    report.routines += 1
                # Views read the routines, so they come after them; a view whose tables a partial install
                # (--to) has not created yet is left for the next install.
                for path in sorted((sql_dir / "views").glob("*.sql")):
                    if applies_fully(migrations, up_to):
                        conn.execute(path.read_text())
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (INSTALL_LOCK_KEY,))
    return report


# ---------------------------------------------------------------- audit


def fk_policy_report(dsn: str, schema: str | None = None) -> list[dict[str, Any]]:
    """Rows of mlops.fk_policy_report(schema) as dicts."""
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM mlops.fk_policy_report(%s)", (schema,))
        return cur.fetchall()


AUDIT_MARK = {"blocks_delete": "⚠️", "cascades": "✅", "sets_null": "⚠️", "sets_default": "⚠️"}


def format_audit(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per FK, as the incident's write-up printed them, then one warning per unindexed FK."""
    lines = [
        f"{AUDIT_MARK[r['risk']]} {r['fk_name']}: {', '.join(r['referencing_columns'])} -> "
        f"{r['referenced_table']} (DELETE {r['on_delete']})"
        for r in rows
    ]
    lines += [
        f"⚠️ unindexed: {r['referencing_table']} ({', '.join(r['referencing_columns'])}) for {r['fk_name']}: "
        f"every delete or merge on {r['referenced_table']} scans {r['referencing_table']}"
        for r in rows
        if not r["indexed"]
    ]
    return lines


# ---------------------------------------------------------------- merge, review, stats, undo


def merge(dsn: str, target: str | None = None, dry_run: bool = False, batch_size: int = 500) -> list[dict[str, Any]]:
    """CALL mlops.merge_duplicates (progress NOTICEs go to stderr); returns the runs it recorded."""
    with connect(dsn) as conn:
        (last,) = conn.execute("SELECT coalesce(max(run_id), 0) FROM mlops.dedup_runs").fetchone()
        conn.execute("CALL mlops.merge_duplicates(%s::regclass, %s, %s)", (target, dry_run, batch_size))
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(
                "SELECT run_id, target::text, dry_run, status, clusters, rows_merged, references_moved,"
                " conflicts_merged, candidates_queued, batches, batches_failed, detect_ms, merge_ms, error"
                " FROM mlops.dedup_runs WHERE run_id > %s ORDER BY run_id",
                (last,),
            )
            return cur.fetchall()


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[str]:
    """A plain text table."""
    cells = [[str(r.get(c, "")) if r.get(c) is not None else "" for c in columns] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(columns)]
    line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))  # noqa: E731
    return [line(list(columns)), line(["-" * w for w in widths])] + [line(row) for row in cells]


RUN_COLUMNS = (
    "run_id",
    "target",
    "status",
    "clusters",
    "rows_merged",
    "references_moved",
    "conflicts_merged",
    "candidates_queued",
    "batches_failed",
    "detect_ms",
    "merge_ms",
)


def stats(dsn: str) -> dict[str, list[dict[str, Any]]]:
    """The rows of mlops.dedup_stats and mlops.data_quality."""
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        return {
            view: cur.execute(f"SELECT * FROM mlops.{view} ORDER BY target::text").fetchall()
            for view in ("dedup_stats", "data_quality")
        }


def undo(dsn: str, merge_id: int) -> None:
    """mlops.unmerge(merge_id), committed."""
    with connect(dsn, autocommit=False) as conn:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
        conn.commit()


def review(dsn: str, target: str | None, answers: Any = sys.stdin, out: Any = sys.stdout) -> dict[str, int]:
    """Walk the pending review pairs: each side by side, then m(erge) / d(istinct) / s(kip) / q(uit)."""
    decided = {"merged": 0, "distinct": 0, "skipped": 0}
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        pending = cur.execute(
            "SELECT candidate_id, target::text AS target, left_id, right_id, score FROM mlops.duplicate_candidates"
            " WHERE status = 'pending' AND (%s::regclass IS NULL OR target = %s::regclass) ORDER BY score DESC",
            (target, target),
        ).fetchall()
        print(f"{len(pending)} pair(s) to review", file=out)
        for c in pending:
            left, right = (
                cur.execute(f"SELECT to_jsonb(t) AS row FROM {c['target']} AS t WHERE t.id = %s", (i,)).fetchone()
                for i in (c["left_id"], c["right_id"])
            )
            print(f"\n#{c['candidate_id']} {c['target']}  similarity {c['score']:.2f}", file=out)
            for key in (left or {}).get("row", {}):
                lv, rv = (str((side or {}).get("row", {}).get(key))[:60] for side in (left, right))
                print(f"  {key:14} {lv:60} | {rv}", file=out)
            print("[m]erge / [d]istinct / [s]kip / [q]uit: ", end="", file=out, flush=True)
            answer = (answers.readline() or "q").strip().lower()[:1]
            if answer == "q":
                break
            if answer in ("m", "d"):
                decision = "merge" if answer == "m" else "distinct"
                conn.execute("SELECT mlops.review_candidate(%s, %s)", (c["candidate_id"], decision))
                decided["merged" if answer == "m" else "distinct"] += 1
            else:
                decided["skipped"] += 1
    return decided


# ---------------------------------------------------------------- demo


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    tables = ("job_postings", "cover_letter_samples", "job_recommendations", "user_interactions")
    return {
        t: conn.execute(
            f"SELECT count(*) FROM mlops.{t}"
            + (" WHERE merged_into IS NULL" if t in ("job_postings", "cover_letter_samples") else "")
        ).fetchone()[0]
        for t in tables
    }


def run_demo(dsn: str | None, postings: int = 2000, letters: int = 3000) -> None:
    """The whole job on generated platform data: audit, dry run, merge, before/after, why, stats."""
    if dsn is None:
        print("starting an embedded throwaway PostgreSQL …")
        with EmbeddedPostgresql() as server:
            run_demo(server.url(), postings, letters)
        return
    import datagen  # the demo's data generator; not needed by the other commands

    print(install(dsn).summary())
    with connect(dsn) as conn:
        generated = datagen.generate(conn, postings=postings, letters=letters, dup_fraction=0.1)
        print(
            f"generated platform data with {generated.pop('planted_pairs')} planted duplicates: "
            + ", ".join(f"{n} {t}" for t, n in generated.items())
        )
        before = table_counts(conn)
    print("\nFK audit (schema mlops):")
    for line in format_audit(fk_policy_report(dsn, "mlops")):
        print("  " + line)
    print("\ndry run (nothing changes):")
    print("\n".join("  " + line for line in format_table(merge(dsn, dry_run=True), RUN_COLUMNS[:5])))
    print("\nmerge:")
    runs = merge(dsn)
    print("\n".join("  " + line for line in format_table(runs, RUN_COLUMNS)))
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        after = table_counts(conn)
        print("\nrows before -> after (live):")
        for t in before:
            print(f"  {t:22} {before[t]:>7} -> {after[t]:>7}")
        print("\nwhat was merged and why (the first three merges of each table):")
        examples = cur.execute(
            "SELECT target, merge_id, survivor_id, loser_ids, reason, score FROM ("
            " SELECT m.target::text AS target, m.merge_id, m.survivor_id, m.loser_ids, m.reason,"
            " round(m.score::numeric, 3) AS score, row_number() OVER (PARTITION BY m.target ORDER BY m.merge_id) AS n"
            " FROM mlops.merges AS m WHERE m.parent_merge_id IS NULL) AS x WHERE n <= 3 ORDER BY target, merge_id"
        ).fetchall()
        print("\n".join("  " + line for line in format_table(examples, list(examples[0]) if examples else [])))
        conflicts = cur.execute("SELECT count(*) AS n FROM mlops.merges WHERE parent_merge_id IS NOT NULL").fetchone()[
            "n"
        ]
        print(f"  ... and {conflicts} colliding recommendations merged into their twins (interactions moved)")
    print("\nstats:")
    for view, rows in stats(dsn).items():
        print(f"  mlops.{view}")
        print("\n".join("    " + line for line in format_table(rows, list(rows[0]) if rows else [])))
    print("\nundo any merge with: python runner.py undo MERGE_ID --dsn ...")


# ---------------------------------------------------------------- command line


def require_dsn(args: argparse.Namespace) -> str:
    dsn = dsn_from_environment(args.dsn)
    if dsn is None:
        raise RunnerError("no database given: pass --dsn URL, or set DATABASE_URL or the libpq PG* variables")
    return dsn


def cmd_install(args: argparse.Namespace) -> None:
    print(install(require_dsn(args), up_to=args.to).summary())


def cmd_audit(args: argparse.Namespace) -> None:
    rows = fk_policy_report(require_dsn(args), args.schema)
    if args.json:
        print(json.dumps(rows, indent=2, default=str, ensure_ascii=False))
    else:
        print("\n".join(format_audit(rows)) if rows else "no foreign keys found")


def cmd_demo(args: argparse.Namespace) -> None:
    run_demo(dsn_from_environment(args.dsn))


def cmd_merge(args: argparse.Namespace) -> None:
    runs = merge(require_dsn(args), args.target, args.dry_run, args.batch_size)
    if args.json:
        print(json.dumps(runs, indent=2, default=str))
    else:
        print("\n".join(format_table(runs, RUN_COLUMNS)))
    failed = [r for r in runs if r["status"] == "failed"]
    if failed:
        raise RunnerError("; ".join(f"run {r['run_id']} ({r['target']}) failed: {r['error']}" for r in failed))


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runner.py", description=__doc__.splitlines()[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dsn", help="libpq connection string or URL (default: DATABASE_URL, then PG* variables)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("install", parents=[common], help="apply pending migrations and re-apply every routine")
    p.add_argument("--to", type=int, metavar="VERSION", help="apply migrations only up to this version")
    p.set_defaults(func=cmd_install)

    p = sub.add_parser("audit", parents=[common], help="FK policy report: delete actions and unindexed FKs")
    p.add_argument("--schema", default=None, help="only FKs from or to this schema (default: all)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("merge", parents=[common], help="CALL mlops.merge_duplicates: detect and merge in batches")
    p.add_argument("--target", help="one table (default: every enabled rule)")
    p.add_argument("--dry-run", action="store_true", help="record what would happen, change nothing")
    p.add_argument("--batch-size", type=int, default=500, help="clusters per committed batch (default 500)")
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

    p = sub.add_parser("demo", parents=[common], help="embedded server, generated data, audit, dry run, merge, stats")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except (RunnerError, psycopg.Error) as exc:
        print(f"error: {str(exc).strip()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
