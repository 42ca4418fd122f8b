#!/usr/bin/env python3
"""mlops-dedup runner: install the SQL package, audit foreign keys, run the demo.

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


# ---------------------------------------------------------------- demo


def load_incident_sample(dsn: str) -> dict[str, int]:
    """Load the incident's sample data into an installed database; returns row counts."""
    with connect(dsn) as conn:
        with conn.transaction():
            conn.execute((SQL_DIR / "demo" / "incident_sample.sql").read_text())
        tables = ("job_postings", "cover_letter_samples", "job_recommendations", "user_interactions")
        return {t: conn.execute(f"SELECT count(*) FROM mlops.{t}").fetchone()[0] for t in tables}


def run_demo(dsn: str | None) -> None:
    """Install into a database (an embedded throwaway one by default), load the sample, print the audit."""
    if dsn is None:
        print("starting an embedded throwaway PostgreSQL …")
        with EmbeddedPostgresql() as server:
            run_demo(server.url())
        return
    print(install(dsn).summary())
    counts = load_incident_sample(dsn)
    print("loaded the incident's sample: " + ", ".join(f"{n} {t}" for t, n in counts.items()))
    print("\nFK audit (schema mlops):")
    for line in format_audit(fk_policy_report(dsn, "mlops")):
        print("  " + line)


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

    p = sub.add_parser("demo", parents=[common], help="embedded server, install, sample data, audit")
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
