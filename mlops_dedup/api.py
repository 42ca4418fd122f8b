"""mlops-dedup's Python API: install the SQL package, audit FKs, merge duplicates, review, stats, undo, alerts, demo.

A thin layer: connection handling, the migration ledger, the runs' summaries. What decides a merge lives in SQL
(mlops_dedup/sql/functions/). Functions return rows as dicts and raise psycopg.Error subclasses for what the database
refuses (psycopg.errors.<Name>: `.sqlstate`, `.diag.message_primary`, `.diag.message_detail`, `.diag.message_hint`)
and RunnerError for what the runner itself refuses. The database's NOTICE and WARNING lines go to the logger
"mlops_dedup" (INFO and WARNING) or to a callback: merge(..., progress=f).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pwd
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
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

# What install runs under: nothing planted in the caller's search_path (an operator, a function, a table in a
# writable schema) can be bound into the views and routines it creates.
PINNED_SEARCH_PATH = "SET search_path = pg_catalog, pg_temp"

# The migration history before it was re-based (main at 66845f2): versions 1-4 and 7 created and changed the
# platform's own tables, which the package no longer owns; 5 and 6 created the package's tables exactly as
# 0001_package_tables does today. A database installed from it is re-based onto the new history (see
# rebase_legacy_ledger); the platform's tables stay as they are.
LEGACY_HISTORY = {
    1: ("0001_platform_schema", "134956a3c6d387a5e283ea43849895c62f7a5c830f85ffad4d0a11306816a7c5"),
    2: ("0002_fix_foreign_key_cascade", "a0da5b381ce7231ad3a50bc8068587ee5e8419b10999b769e4140ae2e9f0a2ee"),
    3: ("0003_validate_foreign_key_cascade", "5c080d6566ebfb6ad88417169b4f0c7aa655d318a9a12c8b3cb3e15ba55536c6"),
    4: ("0004_soft_delete_columns", "af2e88818d05b5defa80b8d12837c74a57a4cddd5cfdced370b079034793b3db"),
    5: ("0005_merge_log", "6a3c2efe0f907dcb6e3178aad51b803f285d9c00f4df4ad203d1a24da44d1209"),
    6: ("0006_dedup_rules_runs_candidates", "e642658497a6a12dbe4411fc1fdea60ed06b0bcf9bf7088cc24d68fd36ac4c17"),
    7: ("0007_seed_platform_rules", "143f77cd5bc734737f8d5da1b4c7dc5c2c32372cdb33c61e79b0484b192215f4"),
}
# Legacy versions 5 and 6 together are the new version 1.
LEGACY_PACKAGE_TABLES = (5, 6)
REBASED_VERSION = 1

# Names the package creates in a database; an object of the user's with one of them is a clash. A primary key,
# unique or exclusion constraint creates an index of its own name, in the same namespace as tables and sequences.
CONSTRAINT_INDEX = re.compile(
    r'\bCONSTRAINT\s+"?([a-z_][a-z0-9_]*)"?\s+(?:PRIMARY\s+KEY|UNIQUE|EXCLUDE)\b', re.IGNORECASE
)
CREATED_OBJECT = re.compile(
    r"^\s*CREATE\s+(?:UNIQUE\s+)?(TABLE|INDEX|VIEW|TYPE|SEQUENCE|SCHEMA)\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r'(?:mlops\.)?"?([a-z_][a-z0-9_]*)"?',
    re.IGNORECASE | re.MULTILINE,
)


def command_name() -> str:
    """How the user started the command line, for the commands it suggests: `mlops-dedup` (the installed command,
    `python -m mlops_dedup`), else `python runner.py` (a clone)."""
    started = Path(sys.argv[0])
    installed = started.name == "mlops-dedup" or started.parent.name == "mlops_dedup"
    return "mlops-dedup" if installed else "python runner.py"


class RunnerError(Exception):
    """An error the runner reports as one line, without a traceback."""


class MigrationError(RunnerError):
    """The migrations on disk and the ledger in the database disagree."""


class MergeCancelled(KeyboardInterrupt):
    """Ctrl-C during merge(): a KeyboardInterrupt that also carries the runs of the interrupted call (.runs, as merge
    returns them; the interrupted one has status 'cancelled')."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        super().__init__("merge cancelled")
        self.runs = runs


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

    def keep_running(self) -> str:
        """Leave the server running after this process ends; returns its DSN and how to stop it."""
        data_dir = os.path.join(self.base_dir, "data")
        pg_ctl = os.path.join(os.path.dirname(self.initdb), "pg_ctl")
        stop = " ".join(self._as_server_user([pg_ctl, "-D", data_dir, "stop"]))
        # testing.postgresql stops and deletes only a server it still tracks.
        self.child_process = None
        self._use_tmpdir = False
        return (
            f"the embedded server keeps running: {self.url()}\n"
            f"stop it and remove its files with: {stop} && rm -rf {self.base_dir}"
        )


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


LOG = logging.getLogger("mlops_dedup")
# a library logs nothing by itself until its user configures logging (no "last resort" lines on stderr)
LOG.addHandler(logging.NullHandler())

# What the server's message severities become in `logging` (a NOTICE is progress, a WARNING something left undone).
NOTICE_LEVELS = {"DEBUG": logging.DEBUG, "LOG": logging.INFO, "INFO": logging.INFO, "NOTICE": logging.INFO}

# progress(severity, text): severity as the server sends it ('NOTICE', 'WARNING', ...), text as psql shows the
# message ("NOTICE: ..." and a "HINT: ..." line when there is one)
ProgressCallback = Callable[[str, str], None]


def notice_text(diag: psycopg.errors.Diagnostic) -> str:
    """A server message as psql prints it: 'SEVERITY: message', then 'HINT: hint' on its own line if any."""
    text = f"{diag.severity}: {diag.message_primary}"
    return text + (f"\nHINT: {diag.message_hint}" if diag.message_hint else "")


def log_notice(diag: psycopg.errors.Diagnostic) -> None:
    """The default notice handler: to the logger "mlops_dedup", NOTICE as INFO and WARNING as WARNING."""
    LOG.log(NOTICE_LEVELS.get(diag.severity_nonlocalized or "", logging.WARNING), "%s", notice_text(diag))


class NoticeRelay:
    """A connection's notice handler: passes each NOTICE/WARNING on to progress(severity, text), else to the logger
    "mlops_dedup". psycopg calls it from libpq's C callback, where an exception is only printed: a Ctrl-C that lands
    while it runs is kept (.interrupted) and the running statement is cancelled, so merge() still ends as cancelled;
    an exception of the callback is logged and the merge goes on."""

    def __init__(self, progress: ProgressCallback | None = None) -> None:
        self.progress = progress
        self.conn: psycopg.Connection | None = None
        self.interrupted: KeyboardInterrupt | None = None

    def __call__(self, diag: psycopg.errors.Diagnostic) -> None:
        try:
            if self.progress is None:
                log_notice(diag)
            else:
                self.progress(diag.severity_nonlocalized or "", notice_text(diag))
        except KeyboardInterrupt as interrupt:
            self.interrupted = interrupt
            if self.conn is not None:  # from another thread: this callback runs inside psycopg's wait
                threading.Thread(target=self.conn.cancel_safe, daemon=True).start()
        except Exception:
            LOG.exception("the progress callback raised (the merge goes on); the message was: %s", notice_text(diag))


def connect(
    dsn: str,
    autocommit: bool = True,
    pinned: bool = True,
    progress: ProgressCallback | None = None,
    notices: NoticeRelay | None = None,
) -> psycopg.Connection:
    """A psycopg connection whose NOTICE and WARNING lines go to progress(severity, text) when given, else to the
    logger "mlops_dedup" (or to a NoticeRelay of the caller's). Pinned (the default): its search_path is pg_catalog,
    pg_temp, so no function, operator or table planted in a schema of the user's path resolves in the runner's own
    queries (every name of ours is schema-qualified)."""
    conn = psycopg.connect(dsn, autocommit=autocommit)
    if pinned:
        # The user's triggers and rules still run under the path the application has (the role's or database's
        # default): the merge routines read it from mlops.caller_search_path (see sql/functions/pin_search_path.sql).
        conn.execute(
            "SELECT pg_catalog.set_config('mlops.caller_search_path', pg_catalog.current_setting('search_path'), false)"
        )
        conn.execute(PINNED_SEARCH_PATH)
        if not autocommit:
            conn.commit()
    relay = notices or NoticeRelay(progress)
    relay.conn = conn
    conn.add_notice_handler(relay)
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
    rebased: str | None = None
    extension: str = ""
    fuzzystrmatch: str = ""
    fuzzystrmatch_missing: str | None = None
    rules_compiled: list[str] = field(default_factory=list)
    rules_not_compiled: list[str] = field(default_factory=list)
    foreign_routines: list[str] = field(default_factory=list)
    regranted: list[str] = field(default_factory=list)
    locale_warning: str | None = None

    def summary(self) -> str:
        if self.applied:
            head = f"applied {len(self.applied)} migration(s): {', '.join(self.applied)}"
        else:
            head = f"no pending migrations ({self.already_applied} already applied); schema unchanged"
        lines = [f"{head}; {self.routines} routine file(s) re-applied"]
        if self.rebased:
            lines.insert(0, self.rebased)
        if self.extension:
            lines.append(self.extension)
        if self.fuzzystrmatch:
            lines.append(self.fuzzystrmatch)
        if self.rules_compiled:
            lines.append(f"compiled the dedup rule(s) that had no evaluator: {', '.join(self.rules_compiled)}")
        if self.regranted:
            lines.append(f"granted this version's new routines and columns to: {', '.join(self.regranted)}")
        lines += [
            f"WARNING: rule not compiled, detection refuses it until it is re-written: {problem}"
            for problem in self.rules_not_compiled
        ]
        lines += [
            f"WARNING: {routine} is not the package's but has the name of one of its routines; a call whose "
            "argument types fit it better runs it: drop it, and grant no one but the installer CREATE on schema mlops"
            for routine in self.foreign_routines
        ]
        if self.locale_warning:
            lines.append(f"WARNING: {self.locale_warning}")
        if self.fuzzystrmatch_missing:
            lines.append(
                f"WARNING: {self.fuzzystrmatch_missing}. Until then edit distances use the package's PL/pgSQL "
                "fallback, mlops.edit_distance: the same numbers, tens of times slower"
            )
        return "\n".join(lines)


class InstallClashError(RunnerError):
    """Schema mlops already holds a user object under the name of a package object."""


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


@functools.cache
def package_schema_version() -> int:
    """The newest migration this package carries (the database must be at it for the runner's queries)."""
    return read_migrations(SQL_DIR)[-1].version


def require_current_schema(conn: psycopg.Connection) -> None:
    """Refuses (RunnerError) a database whose package is older than this package's: after `pip install --upgrade` the
    runner's queries need the new columns, and a merge that ran and then failed on them would look like a failure.
    The ledger tells where the role may read it (the owner); for a granted role (grant_usage gives nothing on it), the
    columns of mlops.dedup_runs the runner reads."""
    (present,) = conn.execute("SELECT pg_catalog.to_regclass('mlops.schema_migrations') IS NOT NULL").fetchone()
    if present:
        (readable,) = conn.execute(
            "SELECT pg_catalog.has_table_privilege('mlops.schema_migrations', 'SELECT')"
        ).fetchone()
        if not readable:
            # a granted role (grant_usage gives nothing on the ledger): the columns this runner reads tell
            (missing,) = conn.execute(
                "SELECT array_agg(f.name ORDER BY f.name) FROM unnest(%s::text[]) AS f (name)"
                " WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute AS a"
                " WHERE a.attrelid = 'mlops.dedup_runs'::regclass AND a.attname = f.name AND NOT a.attisdropped)",
                (list(RUN_FIELDS),),
            ).fetchone()
            if missing:
                raise RunnerError(
                    "this database's mlops-dedup is older than this package (mlops.dedup_runs has no "
                    f"{', '.join(missing)}): the package's owner must run `mlops-dedup install --dsn ...` (it applies "
                    "the pending migrations)"
                )
            return
    installed = (
        conn.execute("SELECT max(m.version) FROM mlops.schema_migrations AS m").fetchone()[0] if present else None
    )
    if installed is None:
        raise RunnerError(
            f"mlops-dedup is not installed in this database: run `{command_name()} install --dsn ...` first"
        )
    if installed < package_schema_version():
        raise RunnerError(
            f"this database's mlops-dedup is at migration {installed}, this package needs {package_schema_version()}:"
            f" run `{command_name()} install --dsn ...` (it applies the pending migrations) and try again"
        )


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


def rebase_legacy_ledger(
    ledger: dict[int, tuple[str, str]], migrations: list[Migration]
) -> tuple[dict[int, tuple[str, str]], str | None]:
    """The ledger as the re-based history reads it, and a sentence on what was re-based (None: nothing).

    A ledger written by the first history (LEGACY_HISTORY) is mapped onto today's: its package tables (legacy 5
    and 6) are today's version 1; its platform migrations are dropped from the ledger (the platform's tables stay,
    as the user's). A partial legacy install that stopped between 5 and 6 is refused with what to do.
    """
    legacy = {v: entry for v, entry in ledger.items() if LEGACY_HISTORY.get(v, ("",))[0] == entry[0]}
    if not legacy:
        return ledger, None
    if legacy != ledger:
        raise MigrationError(
            "the migration ledger mixes the first migration history with today's: "
            f"{sorted(ledger.items())}; restore the database from a backup taken before the mixed install"
        )
    for version, (name, sha256) in sorted(legacy.items()):
        if LEGACY_HISTORY[version][1] != sha256:
            raise MigrationError(
                f"migration {name} of the first history was changed after it was applied (ledger sha256 "
                f"{sha256[:12]}…): this database cannot be upgraded automatically"
            )
    if sorted(legacy) != list(range(1, max(legacy) + 1)):
        raise MigrationError(f"the first history's ledger has gaps ({sorted(legacy)}): cannot upgrade automatically")
    applied = set(legacy)
    if applied & set(LEGACY_PACKAGE_TABLES) and not applied >= set(LEGACY_PACKAGE_TABLES):
        raise MigrationError(
            "this database holds a partial install of the first release (migrations 1-5 of 7, without "
            "0006_dedup_rules_runs_candidates): finish it with that release first (git checkout 66845f2 && "
            "python runner.py install --dsn ...), then install this version"
        )
    rebased: dict[int, tuple[str, str]] = {}
    if applied >= set(LEGACY_PACKAGE_TABLES):
        first = next(m for m in migrations if m.version == REBASED_VERSION)
        rebased[REBASED_VERSION] = (first.name, first.sha256)
    note = (
        f"re-based the first release's migration ledger (versions {min(legacy)}-{max(legacy)}) onto this history"
        + (f": its package tables are {migrations[0].path.name}" if rebased else "")
        + "; the platform's tables it created are left as they are"
    )
    return rebased, note


def applies_fully(migrations: list[Migration], up_to: int | None) -> bool:
    """True when an install with this --to reaches the last migration."""
    return up_to is None or not migrations or up_to >= migrations[-1].version


def package_object_names(pending: list[Migration], sql_dir: Path) -> dict[str, set[str]]:
    """What the pending migrations and the routine and view files create, by kind: relation, type, schema, routine."""
    names: dict[str, set[str]] = {"relation": set(), "type": set(), "schema": set(), "view": set(), "routine": set()}
    for migration in pending:
        text = migration.path.read_text()
        for kind, name in CREATED_OBJECT.findall(text):
            kind = kind.upper()
            names["schema" if kind == "SCHEMA" else "type" if kind == "TYPE" else "relation"].add(name.lower())
            if kind == "TABLE":
                names["type"].add(name.lower())  # every table has a row type of its name
        names["relation"] |= {name.lower() for name in CONSTRAINT_INDEX.findall(text)}
    names["view"] = {p.stem for p in (sql_dir / "views").glob("*.sql")}
    names["routine"] = {p.stem for p in (sql_dir / "functions").glob("*.sql")}
    return names


def find_clashes(conn: psycopg.Connection, names: dict[str, set[str]], first_install: bool) -> list[str]:
    """User objects that hold a name the package is about to create, described for an error message.

    Relations, types and schemas the pending migrations create are checked on every install; routines and views
    (re-applied with CREATE OR REPLACE every time) only on the first install into the database, when none is ours.
    """
    rows = conn.execute(
        """
        SELECT format('%%s %%s (owner %%s)', CASE c.relkind WHEN 'v' THEN 'view' WHEN 'i' THEN 'index'
                   WHEN 'S' THEN 'sequence' ELSE 'table' END, c.oid::regclass, c.relowner::regrole)
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = to_regnamespace('mlops')
          AND (c.relname = ANY (%(relations)s) OR (%(first)s AND c.relname = ANY (%(views)s)))
        UNION ALL
        SELECT format('type %%s (owner %%s)', t.oid::regtype, t.typowner::regrole)
        FROM pg_catalog.pg_type AS t
        WHERE t.typnamespace = to_regnamespace('mlops') AND t.typname = ANY (%(types)s)
          AND (t.typrelid = 0 OR (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = t.typrelid) = 'c')
        UNION ALL
        SELECT format('schema %%s (owner %%s)', n.nspname, n.nspowner::regrole)
        FROM pg_catalog.pg_namespace AS n WHERE n.nspname = ANY (%(schemas)s)
        UNION ALL
        SELECT format('%%s %%s (owner %%s)', CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
                      p.oid::regprocedure, p.proowner::regrole)
        FROM pg_catalog.pg_proc AS p
        WHERE %(first)s AND p.pronamespace = to_regnamespace('mlops') AND p.proname = ANY (%(routines)s)
        ORDER BY 1
        """,
        {
            "relations": sorted(names["relation"]),
            "views": sorted(names["view"]),
            "types": sorted(names["type"]),
            "schemas": sorted(names["schema"]),
            "routines": sorted(names["routine"]),
            "first": first_install,
        },
    ).fetchall()
    return [row[0] for row in rows]


class ExtensionNotCreated(RunnerError):
    """An extension the package uses is missing and cannot be created here; the message says why and what to do."""


def ensure_extension(
    conn: psycopg.Connection, name: str, extension_schema: str | None, default_schema: str | None
) -> str:
    """Use an extension where it is installed; else create it in --extension-schema or the connection's default schema.
    Says which. ExtensionNotCreated when it cannot be created (the attempt, in a savepoint, is undone)."""
    row = conn.execute(
        "SELECT n.nspname FROM pg_catalog.pg_extension AS e"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = %s",
        (name,),
    ).fetchone()
    if row:
        return f"{name} is installed in schema {row[0]}; using it there"
    schema = extension_schema or default_schema
    if not schema:
        raise ExtensionNotCreated(
            f"{name} is not installed and this connection has no default schema to put it in: "
            "pass --extension-schema SCHEMA"
        )
    if conn.execute("SELECT to_regnamespace(%s) IS NULL", (schema,)).fetchone()[0]:
        raise RunnerError(f"--extension-schema {schema}: no such schema")
    if not conn.execute(
        "SELECT EXISTS (SELECT FROM pg_catalog.pg_available_extensions WHERE name = %s)", (name,)
    ).fetchone()[0]:
        raise ExtensionNotCreated(
            f"{name} is not available on this server: install PostgreSQL's contrib modules there, then install again"
        )
    try:
        with conn.transaction():
            conn.execute(
                psycopg.sql.SQL("CREATE EXTENSION {} WITH SCHEMA {}").format(
                    psycopg.sql.Identifier(name), psycopg.sql.Identifier(schema)
                )
            )
    except psycopg.errors.DuplicateFunction as exc:
        raise ExtensionNotCreated(
            f"{name} cannot be created in schema {schema}: it already holds a function of {name}'s "
            f"({exc.diag.message_primary}); pass --extension-schema with another schema (CREATE SCHEMA extensions "
            f"first), or install {name} yourself"
        ) from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ExtensionNotCreated(
            f"{name} is not installed and this role may not create it ({exc.diag.message_primary}): "
            f"ask the database owner to run CREATE EXTENSION {name} WITH SCHEMA {schema}, then install again"
        ) from exc
    return f"created extension {name} in schema {schema}"


def install(
    dsn: str, sql_dir: Path = SQL_DIR, up_to: int | None = None, extension_schema: str | None = None
) -> InstallReport:
    """Create or upgrade the package's own objects: pending migrations (each with its ledger row, in one
    transaction), then every routine and view file. Never creates, alters or drops a table it does not own.

    Checks first, changing nothing when they fail: the ledger against the files (MigrationError), and that no user
    object holds a package name (InstallClashError). Runs under a pinned search_path; pg_trgm (required) and
    fuzzystrmatch (optional) are used where they are, else created in extension_schema or the default schema.
    """
    migrations = read_migrations(sql_dir)
    report = InstallReport()
    with connect(dsn, pinned=False) as conn:  # pinned below, once the default schema is read
        # One installer at a time per database; a session lock, released below.
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (INSTALL_LOCK_KEY,))
        try:
            (default_schema, encoding) = conn.execute(
                "SELECT current_schema(), pg_catalog.getdatabaseencoding()"
            ).fetchone()
            if isinstance(encoding, bytes):  # psycopg reads text as bytes from a SQL_ASCII database
                encoding = encoding.decode("ascii", "replace")
            if encoding != "UTF8":
                # normalize() (Unicode forms) and the package's text matching need UTF-8; so do its messages
                raise RunnerError(
                    f"this database's encoding is {encoding}: mlops-dedup needs a UTF8 database. Nothing was changed. "
                    "Create one with CREATE DATABASE ... ENCODING 'UTF8' TEMPLATE template0 and move the data there"
                )
            conn.execute(PINNED_SEARCH_PATH)
            with conn.transaction():
                has_ledger = conn.execute("SELECT to_regclass('mlops.schema_migrations') IS NOT NULL").fetchone()[0]
                ledger: dict[int, tuple[str, str]] = {}
                if has_ledger:
                    ledger = {
                        version: (name, sha256)
                        for version, name, sha256 in conn.execute(
                            "SELECT version, name, sha256 FROM mlops.schema_migrations"
                        )
                    }
                ledger, report.rebased = rebase_legacy_ledger(ledger, migrations)
                check_ledger(migrations, ledger)
                pending = [m for m in migrations if m.version not in ledger and (up_to is None or m.version <= up_to)]
                clashes = find_clashes(conn, package_object_names(pending, sql_dir), first_install=not has_ledger)
                if clashes:
                    raise InstallClashError(
                        "schema mlops already holds objects under the names of the package's own: "
                        + "; ".join(clashes)
                        + ". Nothing was changed. Rename or move them (e.g. ALTER TABLE mlops.x SET SCHEMA other), "
                        "or install into a database without them"
                    )
                try:  # required: text similarity is built on it
                    report.extension = ensure_extension(conn, "pg_trgm", extension_schema, default_schema)
                except ExtensionNotCreated as exc:
                    raise RunnerError(f"{exc}. Nothing was changed") from exc
                try:  # optional: without it edit distances fall back to mlops.edit_distance (PL/pgSQL)
                    report.fuzzystrmatch = ensure_extension(conn, "fuzzystrmatch", extension_schema, default_schema)
                except ExtensionNotCreated as exc:
                    report.fuzzystrmatch_missing = str(exc)
                conn.execute("SET LOCAL client_min_messages = warning")  # not "schema mlops already exists"
                conn.execute(BOOTSTRAP_SQL)
                if report.rebased:
                    conn.execute("DELETE FROM mlops.schema_migrations")
                    for version, (name, sha256) in ledger.items():
                        conn.execute(
                            "INSERT INTO mlops.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                            (version, name, sha256),
                        )
            report.already_applied = len(ledger)
            for migration in pending:
                with conn.transaction():
                    conn.execute(migration.path.read_text())
                    conn.execute(
                        "INSERT INTO mlops.schema_migrations (version, name, sha256) VALUES (%s, %s, %s)",
                        (migration.version, migration.name, migration.sha256),
                    )
                report.applied.append(migration.path.name)
            # Routines and views are written for the last migration's schema: a partial install (--to) leaves them
            # for the install that reaches it.
            if applies_fully(migrations, up_to):
                with conn.transaction():
                    for path in sorted((sql_dir / "functions").glob("*.sql")):
                        conn.execute(path.read_text())
                        report.routines += 1
                    # Views read the routines, so they come after them.
                    for path in sorted((sql_dir / "views").glob("*.sql")):
                        conn.execute(path.read_text())
                    # A routine under a package routine's name that this install did not (re)write is someone's
                    # overload: a call whose argument types fit it better would run it instead of ours.
                    report.foreign_routines = [
                        row[0]
                        for row in conn.execute(
                            "SELECT format('%%s (owner %%s)', p.oid::regprocedure, p.proowner::regrole)"
                            " FROM pg_catalog.pg_proc AS p WHERE p.pronamespace = 'mlops'::regnamespace"
                            " AND p.proname = ANY (%s) AND p.xmin <> pg_catalog.pg_current_xact_id()::xid ORDER BY 1",
                            (sorted(p.stem for p in (sql_dir / "functions").glob("*.sql")),),
                        )
                    ]
                    # Rules without an evaluator (written before rules had them, or whose evaluator was dropped) are
                    # compiled by their trigger, as the installing role; one that does not compile stays as it is
                    # (detection refuses it, 55000) and is reported.
                    for (target,) in conn.execute(
                        "SELECT target::text FROM mlops.dedup_rules WHERE evaluator IS NULL ORDER BY 1"
                    ).fetchall():
                        try:
                            with conn.transaction():
                                conn.execute(
                                    "UPDATE mlops.dedup_rules SET target = target WHERE target = %s::regclass",
                                    (target,),
                                )
                            report.rules_compiled.append(target)
                        except psycopg.Error as exc:
                            report.rules_not_compiled.append(f"{target}: {exc.diag.message_primary}")
                    # Roles granted usage by an earlier version need this version's new routines and columns too:
                    # grant_usage again (idempotent) for each, as a rule writer if it was one.
                    for role, writer in conn.execute(GRANTED_ROLES_SQL).fetchall():
                        conn.execute("SELECT count(*) FROM mlops.grant_usage(%s::regrole, %s)", (role, writer))
                        report.regranted.append(role)
                    blind, ctype = conn.execute(
                        "SELECT mlops.pg_trgm_blind(), d.datctype FROM pg_catalog.pg_database AS d"
                        " WHERE d.datname = pg_catalog.current_database()"
                    ).fetchone()
                    if blind:
                        report.locale_warning = (
                            f"pg_trgm sees no letter outside ASCII in this database (LC_CTYPE {ctype}): Korean, "
                            "Japanese, Chinese, Cyrillic, Greek and accented text is compared with the package's own "
                            "trigrams instead (same scores as pg_trgm in a UTF-8 locale, slower). A database with "
                            "LC_CTYPE 'C.UTF-8' lets pg_trgm see them"
                        )
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (INSTALL_LOCK_KEY,))
    return report


# Roles an earlier mlops.grant_usage gave usage to: a column grant on the merge log (INSERT (reason) on mlops.merges,
# which migrations keep, while a routine whose signature changed is dropped with its grants), not the owner's own;
# and whether they were made rule writers (INSERT on mlops.dedup_rules).
GRANTED_ROLES_SQL = """
SELECT DISTINCT a.grantee::regrole::text AS role,
    pg_catalog.has_any_column_privilege(a.grantee, 'mlops.dedup_rules', 'INSERT') AS writer
FROM pg_catalog.pg_attribute AS c
CROSS JOIN LATERAL pg_catalog.aclexplode(c.attacl) AS a
WHERE c.attrelid = 'mlops.merges'::pg_catalog.regclass AND c.attname = 'reason'
    AND a.privilege_type = 'INSERT' AND a.grantee <> 0
    AND a.grantee <> (SELECT t.relowner FROM pg_catalog.pg_class AS t WHERE t.oid = c.attrelid)
ORDER BY 1
"""


# ---------------------------------------------------------------- the platform


# The crawling platform's tables (platform/schema.sql; they exist before the package), what the incident's fix
# changes on them, and its two dedup rules. install --platform applies these through the generic routines.
PLATFORM_SCHEMA_FILE = ROOT / "platform" / "schema.sql"
PLATFORM_TABLES = (
    "mlops.job_postings",
    "mlops.cover_letter_samples",
    "mlops.job_recommendations",
    "mlops.user_interactions",
)
PLATFORM_FK_ON_DELETE = (
    ("mlops.job_recommendations", "job_recommendations_resume_id_fkey", "CASCADE"),
    ("mlops.job_recommendations", "job_recommendations_job_id_fkey", "CASCADE"),
)
PLATFORM_SOFT_DELETE_TABLES = ("mlops.job_postings", "mlops.cover_letter_samples")
# Cover letters: the same page under URL variants, or a text that differs by a word or two (trigram similarity
# >= 0.8), merge automatically; 0.55-0.8 goes to review (unrelated letters score about 0.33, at most about 0.43).
# Job postings: same page, or the same title, company, location and description.
PLATFORM_RULES = (
    {
        "target": "mlops.cover_letter_samples",
        "exact_key": "mlops.normalize_url(t.url)",
        "similar_text": "t.content",
        "threshold": 0.8,
        "review_threshold": 0.55,
    },
    {
        "target": "mlops.job_postings",
        "exact_key": "mlops.normalize_url(t.url)",
        # NULL when the page gave no title (a parse failure is no evidence); NULL fields add no separators
        "similar_text": "CASE WHEN nullif(btrim(t.title), '') IS NOT NULL THEN concat_ws(' | ', t.title, "
        "nullif(btrim(t.company), ''), nullif(btrim(t.location), '')) || coalesce('. ' || nullif(btrim(t.description), "
        "''), '') END",
        "threshold": 0.85,
        "review_threshold": 0.6,
    },
)

# What earlier versions seeded, replaced by install --platform when still exactly as seeded: it built ' |  | . ' out
# of a posting whose fields were all NULL, so pages that failed to parse matched each other with score 1.
PLATFORM_RULES_SUPERSEDED = {
    "mlops.job_postings": "coalesce(t.title, '') || ' | ' || coalesce(t.company, '') || ' | ' || "
    "coalesce(t.location, '') || '. ' || coalesce(t.description, '')",
}

# Two letters merged into one make their recommendations for the same job one recommendation: it keeps the better
# score of the two (the evidence for the match), and undo gives the twin its own score back. The other columns are
# keys, references or the twin's own creation time.
PLATFORM_CONFLICT_POLICIES = ({"table": "mlops.job_recommendations", "action": "combine", "combine": {"score": "max"}},)


@dataclass
class PlatformReport:
    audit_before: list[str]
    audit_after: list[str]
    changes: list[str]

    def summary(self) -> str:
        lines = ["FK audit before:", *("  " + line for line in self.audit_before)]
        lines += [*self.changes] if self.changes else ["the platform was adopted already; nothing changed"]
        lines += ["FK audit after:", *("  " + line for line in self.audit_after)]
        return "\n".join(lines)


def create_platform_schema(conn: psycopg.Connection) -> None:
    """The platform's tables, as the platform creates them (platform/schema.sql): for the demo, tests, benchmarks."""
    conn.execute(PLATFORM_SCHEMA_FILE.read_text())


def missing_platform_tables(conn: psycopg.Connection) -> list[str]:
    """The platform's tables this database lacks (none: it is the platform's database)."""
    return [t for t in PLATFORM_TABLES if conn.execute("SELECT to_regclass(%s) IS NULL", (t,)).fetchone()[0]]


def require_platform_tables(conn: psycopg.Connection) -> None:
    """install --platform needs the platform's own tables, and the foreign keys it changes, before it changes
    anything: the package never creates them, and a half-adopted platform would help nobody."""
    missing = missing_platform_tables(conn)
    if missing:
        raise RunnerError(
            f"install --platform: the platform's tables are missing: {', '.join(missing)}. They are the "
            "platform's, created by the crawler (platform/schema.sql); create them first, or install without "
            "--platform. Nothing was changed"
        )
    for table, fk, _action in PLATFORM_FK_ON_DELETE:
        (present, named) = conn.execute(
            "SELECT bool_or(c.conname = %s), string_agg(c.conname::text, ', ' ORDER BY c.conname)"
            " FROM pg_catalog.pg_constraint AS c WHERE c.conrelid = %s::regclass AND c.contype = 'f'",
            (fk, table),
        ).fetchone()
        if not present:
            raise RunnerError(
                f"install --platform: {table} has no foreign key named {fk} (its foreign keys: {named or 'none'}). "
                "The platform's schema differs from platform/schema.sql; adopt it by hand with "
                "CALL mlops.alter_fk_on_delete(...) and mlops.add_soft_delete_columns(...). Nothing was changed"
            )


def adopt_platform(dsn: str) -> PlatformReport:
    """install --platform: the incident's fix on the platform's existing tables, idempotently, through the generic
    routines (mlops.alter_fk_on_delete, mlops.add_soft_delete_columns), and its dedup rules; FK audit before/after.
    """
    with connect(dsn) as conn:
        conn.execute(PINNED_SEARCH_PATH)
        # ADD COLUMN waits for an exclusive lock, and every query on the table would queue behind that wait.
        conn.execute("SET lock_timeout = '10s'")
        require_platform_tables(conn)
        # One installer or adopter at a time: two would both try to add the same pending constraints.
        conn.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (INSTALL_LOCK_KEY,))
        try:
            before = format_audit(fk_policy_report(dsn, "mlops"))
            changes: list[str] = []
            for table, fk, action in PLATFORM_FK_ON_DELETE:
                (current,) = conn.execute(
                    "SELECT mlops.fk_action_name(c.confdeltype) FROM pg_catalog.pg_constraint AS c"
                    " WHERE c.conrelid = %s::regclass AND c.conname = %s",
                    (table, fk),
                ).fetchone() or (None,)
                conn.execute("CALL mlops.alter_fk_on_delete(%s::regclass, %s::name, %s::text)", (table, fk, action))
                if current != action:
                    changes.append(f"{table}.{fk}: ON DELETE {current} -> {action}")
            for table in PLATFORM_SOFT_DELETE_TABLES:
                (added,) = conn.execute("SELECT mlops.add_soft_delete_columns(%s::regclass)", (table,)).fetchone()
                if added:
                    changes.append(f"{table}: added {', '.join(added)} (soft delete)")
            for rule in PLATFORM_RULES:
                # Not ON CONFLICT DO NOTHING: the rule's BEFORE INSERT trigger would compile an evaluator first,
                # left unused when the rule exists.
                inserted = conn.execute(
                    "INSERT INTO mlops.dedup_rules (target, exact_key, similar_text, threshold, review_threshold,"
                    " soft_delete, fill_nulls) SELECT %(target)s::regclass, %(exact_key)s, %(similar_text)s,"
                    " %(threshold)s, %(review_threshold)s, true, true"
                    " WHERE NOT EXISTS (SELECT FROM mlops.dedup_rules WHERE target = %(target)s::regclass)",
                    rule,
                ).rowcount
                if inserted:
                    changes.append(f"{rule['target']}: dedup rule declared")
                superseded = PLATFORM_RULES_SUPERSEDED.get(rule["target"])
                if (
                    superseded
                    and conn.execute(
                        "UPDATE mlops.dedup_rules SET similar_text = %(new)s"
                        " WHERE target = %(target)s::regclass AND similar_text = %(old)s",
                        {"target": rule["target"], "new": rule["similar_text"], "old": superseded},
                    ).rowcount
                ):
                    changes.append(f"{rule['target']}: dedup rule's text no longer built from NULL fields")
            for policy in PLATFORM_CONFLICT_POLICIES:
                # A policy the platform's owner declared or changed since is theirs: left as it is.
                inserted = conn.execute(
                    "INSERT INTO mlops.conflict_policies (referencing_table, action, combine)"
                    " SELECT %(table)s::regclass, %(action)s, %(combine)s::jsonb"
                    " WHERE NOT EXISTS (SELECT FROM mlops.conflict_policies"
                    " WHERE referencing_table = %(table)s::regclass)",
                    {**policy, "combine": json.dumps(policy["combine"])},
                ).rowcount
                if inserted:
                    declared = f"{policy['action']} {json.dumps(policy['combine'])}"
                    changes.append(f"{policy['table']}: conflict policy {declared} declared")
        finally:
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (INSTALL_LOCK_KEY,))
    return PlatformReport(before, format_audit(fk_policy_report(dsn, "mlops")), changes)


# ---------------------------------------------------------------- audit


def fk_policy_report(dsn: str, schema: str | None = None) -> list[dict[str, Any]]:
    """Rows of mlops.fk_policy_report(schema) as dicts."""
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM mlops.fk_policy_report(%s::text)", (schema,))
        return cur.fetchall()


AUDIT_MARK = {"blocks_delete": "⚠️", "cascades": "✅", "sets_null": "⚠️", "sets_default": "⚠️"}
# Rows of the audit that are not foreign keys: declared references, and references no FK covers (with a legend line
# each, printed once when the audit has such rows).
AUDIT_FINDINGS = {
    "declared": "a reference declared in mlops.declared_references: merges re-point it, nothing checks it",
    "missing_on_partition": "a partition or inheritance child lacks an FK its siblings (or its parent) carry",
    "undeclared_reference": "a column named like a reference, without FK or declaration, whose sampled values are "
    "keys of the table named",
    "undeclared_polymorphic": "a (<x>_type, <x>_id) pair whose ids under a type value are keys of the table it "
    "names, without declaration",
}


# What each delete action of a foreign key means when a referenced row is deleted or merged away (the legend of the
# web console's audit page).
AUDIT_ACTIONS = {
    "cascades": "ON DELETE CASCADE: deleting a referenced row deletes the referencing rows too; a merge re-points "
    "them to the survivor first, so nothing is lost",
    "blocks_delete": "NO ACTION / RESTRICT: a delete of a referenced row fails while rows reference it (the incident's "
    "foreign-key violation); merges re-point the references first, a plain DELETE fails",
    "sets_null": "ON DELETE SET NULL: deleting a referenced row silently empties the reference; merges re-point it "
    "first, a plain DELETE loses the link",
    "sets_default": "ON DELETE SET DEFAULT: deleting a referenced row points the reference at the column default; "
    "merges re-point it first",
}


@dataclass
class AuditEntry:
    """One line of the FK audit: its mark (✅ ⚠️ 📝), its kind ('fk', 'declared', 'unindexed', 'finding'), the text
    after the mark, and the row of mlops.fk_policy_report it describes."""

    mark: str
    kind: str
    text: str
    row: dict[str, Any]


def audit_entries(rows: Sequence[dict[str, Any]]) -> tuple[list[AuditEntry], list[tuple[str, str]]]:
    """The audit's lines in the order the CLI prints them (FKs, declared references, unindexed ones, findings), and
    the legend (word, meaning) of the finding words present. Shared by format_audit and the web console."""
    fks = [r for r in rows if r["risk"] in AUDIT_MARK]
    declared = [r for r in rows if r["risk"] == "declared"]
    findings = [r for r in rows if r["risk"] not in AUDIT_MARK and r["risk"] != "declared"]
    entries = [
        AuditEntry(
            AUDIT_MARK[r["risk"]],
            "fk",
            f"{r['fk_name']}: {', '.join(r['referencing_columns'])} -> {r['referenced_table']} "
            f"(DELETE {r['on_delete']})",
            r,
        )
        for r in fks
    ]
    entries += [
        AuditEntry(
            "📝",
            "declared",
            f"{r['fk_name']}: {', '.join(r['referencing_columns'])} -> {r['referenced_table']} (declared, no FK)",
            r,
        )
        for r in declared
    ]
    entries += [
        AuditEntry(
            "⚠️",
            "unindexed",
            f"unindexed: {r['referencing_table']} ({', '.join(r['referencing_columns'])}) for {r['fk_name']}: "
            f"every {'merge' if r['risk'] == 'declared' else 'delete or merge'} on {r['referenced_table']} scans "
            f"{r['referencing_table']}",
            r,
        )
        for r in fks + declared
        if r["indexed"] is False
    ]
    entries += [
        AuditEntry(
            "⚠️",
            "finding",
            f"{r['risk']}: {r['referencing_table']} ({', '.join(r['referencing_columns'])}) -> "
            f"{r['referenced_table']}: {r.get('detail') or ''}".rstrip(": "),
            r,
        )
        for r in findings
    ]
    words = [word for word in AUDIT_FINDINGS if any(r["risk"] == word for r in declared + findings)]
    return entries, [(word, AUDIT_FINDINGS[word]) for word in words]


def format_audit(rows: Sequence[dict[str, Any]]) -> list[str]:
    """One line per FK, as the incident's write-up printed them, then one warning per unindexed FK (or declared
    reference); then the declared references and the findings, each with its detail, and a legend of their words."""
    entries, legend = audit_entries(rows)
    lines = [f"{e.mark} {e.text}" for e in entries]
    if legend:
        lines += ["legend:", *(f"  {word}: {meaning}" for word, meaning in legend)]
    return lines


# ---------------------------------------------------------------- merge, review, stats, undo


# The columns of mlops.dedup_runs a run is reported with (merge, runs_by_application, the CLI and the DAG's summary).
RUN_FIELDS = (
    "run_id", "target", "dry_run", "status", "clusters", "rows_merged", "references_moved", "conflicts_merged",
    "candidates_queued", "batches", "batches_failed", "clusters_failed", "clusters_skipped", "clusters_changed",
    "full_pass", "rows_changed", "rows_compared", "detect_ms", "merge_ms", "error", "error_sqlstate", "conflicts",
    "started_at", "finished_at", "application_name", "backend_pid", "call_started_at",
)  # fmt: skip
RUN_SELECT = (
    "SELECT " + ", ".join(f"{f}::text AS {f}" if f == "target" else f for f in RUN_FIELDS) + " FROM mlops.dedup_runs"
)


def merge(
    dsn: str,
    target: str | None = None,
    dry_run: bool = False,
    batch_size: int = 500,
    full: bool = False,
    progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """CALL mlops.merge_duplicates; returns the runs this call recorded (never another session's), one dict per run
    with the columns of mlops.dedup_runs (status: succeeded, partial, failed, cancelled or skipped; clusters, rows
    merged, references moved: counts of rows; detect_ms, merge_ms: milliseconds; conflicts: per referencing table,
    colliding rows merged and differing; full_pass: whether detection read the whole table; rows_changed: rows changed
    since the last run it probed). summarize(runs) gives the batch-manager view (status, errors, totals).

    target: one table (regclass text), None for every enabled rule. full=True makes detection read the whole table even
    where an incremental run would do. progress(severity, text) receives each NOTICE/WARNING (the batches' progress);
    without it they go to the logger "mlops_dedup".
    A rule that failed is a run with status 'failed', one cancelled by pg_cancel_backend a run 'cancelled' (the CALL
    raises at its end; that error is not raised again here); an error before any run was recorded is raised
    (psycopg.Error, with .sqlstate); a database whose package is older than this one is refused (RunnerError: run
    install).
    KeyboardInterrupt (Ctrl-C): the server is asked to cancel, the interrupted run is recorded 'cancelled' (batches
    before it stay merged, later rules do not run) and MergeCancelled (a KeyboardInterrupt with .runs) is raised."""
    notices = NoticeRelay(progress)
    with connect(dsn, notices=notices) as conn:
        require_current_schema(conn)
        (last,) = conn.execute("SELECT coalesce(max(run_id), 0) FROM mlops.dedup_runs").fetchone()
        pid = conn.info.backend_pid
        try:
            conn.execute(
                "CALL mlops.merge_duplicates(%s::regclass, %s::boolean, %s::integer, %s::boolean)",
                (target, dry_run, batch_size, full),
            )
            failure = None
        except psycopg.Error as exc:
            failure = exc
            if notices.interrupted:  # Ctrl-C inside the notice handler: the CALL was cancelled from there
                raise MergeCancelled(record_cancelled(conn, dsn, pid, last)) from notices.interrupted
        except KeyboardInterrupt as interrupt:
            # psycopg has sent the server a cancel request and waited for the CALL to end (up to 5 s): the procedure
            # records the run it was in as cancelled
            raise MergeCancelled(record_cancelled(conn, dsn, pid, last)) from interrupt
        runs = own_runs_since(conn, last)
        if notices.interrupted:
            raise MergeCancelled(runs) from notices.interrupted
        # a failed or cancelled (pg_cancel_backend) run is in the runs: the CALL's error says no more than they do
        if failure is not None and not any(r["status"] in ("failed", "cancelled") for r in runs):
            raise failure
        return runs


def record_cancelled(conn: psycopg.Connection, dsn: str, pid: int, last_run_id: int) -> list[dict[str, Any]]:
    """After a Ctrl-C: this call's runs, with one the procedure could not record (the cancel landed where it cannot
    catch it) marked cancelled. When psycopg closed the connection (a second Ctrl-C, or the CALL did not end within
    5 s of the cancel), a new session ends the old one's backend (its current batch rolls back whole) and marks its
    runs. Best effort: what fails here is logged; the next run marks a run left 'running' as failed ('interrupted')."""
    try:
        if not conn.closed:
            cancel_running_runs(conn, last_run_id, pid)
            return own_runs_since(conn, last_run_id)
        with connect(dsn) as other:
            other.execute(
                "SELECT pg_catalog.pg_terminate_backend(a.pid, 5000) FROM pg_catalog.pg_stat_activity AS a"
                " WHERE a.pid = %s AND a.usename = current_user",
                (pid,),
            )
            cancel_running_runs(other, last_run_id, pid)
            return own_runs_since(other, last_run_id, pid)
    except psycopg.Error as exc:
        LOG.warning("could not record the interrupted merge as cancelled: %s", exc)
        return []


def own_runs_since(conn: psycopg.Connection, last_run_id: int, pid: int | None = None) -> list[dict[str, Any]]:
    """The runs a session recorded after last_run_id, oldest first: this connection's session, or the backend pid (a
    session's runs carry its backend_pid; another session's runs that started meanwhile have another)."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            RUN_SELECT
            + " WHERE run_id > %s AND backend_pid = coalesce(%s, pg_catalog.pg_backend_pid()) ORDER BY run_id",
            (last_run_id, pid),
        )
        return cur.fetchall()


def cancel_running_runs(conn: psycopg.Connection, last_run_id: int, pid: int | None = None) -> None:
    """Mark the runs after last_run_id of a session (this connection's, or backend pid) still 'running' as
    cancelled: a Ctrl-C that landed where the procedure could not record it."""
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        conn.rollback()
    conn.execute(
        "UPDATE mlops.dedup_runs SET status = 'cancelled', finished_at = pg_catalog.clock_timestamp(),"
        " error = 'cancelled by the caller (KeyboardInterrupt)', error_sqlstate = '57014'"
        " WHERE run_id > %s AND backend_pid = coalesce(%s, pg_catalog.pg_backend_pid()) AND status = 'running'",
        (last_run_id, pid),
    )


def runs_by_application(dsn: str, application_name: str, every_call: bool = False) -> list[dict[str, Any]]:
    """The runs of the latest CALL made under an application_name (mlops.dedup_runs.application_name, the session's
    setting when the run began; e.g. an Airflow task's `SET application_name` before its CALL), oldest first, with
    the columns merge() returns: the runs of the CALL that recorded the newest run (its session's backend_pid and the
    CALL's start, call_started_at). A task cleared and run again under the same name thus reports its last try, on a
    new session or on the same one. every_call=True: every run under that name."""
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        require_current_schema(conn)
        runs = cur.execute(RUN_SELECT + " WHERE application_name = %s ORDER BY run_id", (application_name,)).fetchall()
    if every_call or not runs:
        return runs
    call = (runs[-1]["backend_pid"], runs[-1]["call_started_at"])
    return [r for r in runs if (r["backend_pid"], r["call_started_at"]) == call]


# Counts summed over the runs in a summary (rows, clusters, pairs).
SUMMARY_COUNTS = ("clusters", "rows_merged", "references_moved", "conflicts_merged", "candidates_queued")
# A summary's status: the worst of its runs' (a run skipped because another session held its table counts as done).
STATUS_ORDER = ("failed", "cancelled", "partial", "running", "succeeded", "skipped")


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The batch-manager view of some runs (what the incident's BatchProcessorManager printed, plus counts), ready for
    json.dumps: status ('failed' > 'cancelled' > 'partial' > 'running' > 'succeeded' > 'skipped', the worst run's;
    'nothing to merge' without runs), errors (number of runs failed, cancelled or partial), failed (one line per such
    run: 'run 7 (mlops.t) failed: message (SQLSTATE 23503)'), run_ids, and the sums of clusters, rows_merged,
    references_moved, conflicts_merged, candidates_queued (rows and pairs), and runs (the run dicts themselves)."""
    statuses = [r["status"] for r in runs]
    status = min(statuses, key=STATUS_ORDER.index) if runs else "nothing to merge"
    troubled = [r for r in runs if r["status"] in ("failed", "cancelled", "partial")]
    return {
        "status": status,
        "errors": len(troubled),
        "failed": [
            f"run {r['run_id']} ({r['target']}) {r['status']}: {r['error']}"
            + (f" (SQLSTATE {r['error_sqlstate']})" if r.get("error_sqlstate") else "")
            for r in troubled
        ],
        "run_ids": [r["run_id"] for r in runs],
        **{name: sum(r[name] or 0 for r in runs) for name in SUMMARY_COUNTS},
        "runs": [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in runs],
    }


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
    "rows_changed",
    "clusters",
    "rows_merged",
    "references_moved",
    "conflicts_merged",
    "candidates_queued",
    "batches_failed",
    "clusters_failed",
    "clusters_changed",
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
        conn.execute("SELECT mlops.unmerge(%s::bigint)", (merge_id,))
        conn.commit()


REVIEW_ANSWERS = {"m": "m", "merge": "m", "d": "d", "distinct": "d", "s": "s", "skip": "s", "q": "q", "quit": "q"}


# The pending pairs to ask about (runner.py review and the console's review page): pairs of tables with a rule only (a
# pair queued by hand for another table is not the rules' to merge), in mlops.review_queue's order (a learned rule's
# most uncertain pairs first: they teach its model most); %(target)s: one table, or NULL for all.
REVIEW_QUEUE_SQL = """
SELECT c.candidate_id, c.target::text AS target, c.left_key, c.right_key, c.score, c.reason, c.levels, c.created_at,
    c.uncertainty, c.position
FROM mlops.review_queue AS c JOIN mlops.dedup_rules AS r ON r.target = c.target
WHERE (%(target)s::regclass IS NULL OR c.target = %(target)s::regclass)
ORDER BY c.target::text, c.position
"""


def read_review_answer(answers: Any, out: Any) -> str:
    """One of m, d, s, q from the answers (a whole word: 'maybe' is not 'merge'); asks again after anything else;
    q at the end of the input."""
    while True:
        print("[m]erge / [d]istinct / [s]kip / [q]uit: ", end="", file=out, flush=True)
        line = answers.readline()
        if not line:
            return "q"
        word = line.strip().lower()
        if word in REVIEW_ANSWERS:
            return REVIEW_ANSWERS[word]
        print(f"  {word!r} is not m, d, s or q", file=out)


def fetch_by_key(cur: psycopg.Cursor, target: str, key: str) -> dict[str, Any]:
    """The row of target whose key (any type, as the package's key text) is key, or {} when there is none. The
    condition comes from mlops.key_match_sql (the key's own equality and type, the key quoted as a literal), so
    a uuid, text or citext key is found as an integer one is; no cast of the user's (to json, to text) runs here."""
    match = "SELECT mlops.key_match_sql(%s::regclass, 't', quote_literal(%s::text), false) AS c"
    condition = cur.execute(match, (target, key)).fetchone()["c"]
    query = psycopg.sql.SQL("SELECT t.* FROM {} AS t WHERE {}").format(
        psycopg.sql.SQL(target), psycopg.sql.SQL(condition)
    )
    return cur.execute(query).fetchone() or {}


def printable(text: str) -> str:
    """A value as a terminal may show it: control characters (ESC sequences, CR that hides a line) as escapes."""
    return "".join(ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode() for ch in text)


def print_match_evidence(conn: psycopg.Connection, target: str, left_key: str, right_key: str, out: Any) -> None:
    """Under a review pair: each signal of the rule as detection compared it (mlops.match_evidence), one line each."""
    try:
        with conn.transaction():
            rows = conn.execute(
                "SELECT signal, left_value, right_value, score, outcome"
                " FROM mlops.match_evidence(%s::regclass, %s::text, %s::text)",
                (target, left_key, right_key),
            ).fetchall()
    except psycopg.Error as exc:  # the evidence helps; a pair without it can still be decided
        print(f"  evidence unavailable: {exc.diag.message_primary} ({exc.sqlstate})", file=out)
        return
    for signal, left_value, right_value, score, outcome in rows:
        shown = "" if score is None else f" {score:.2f}"
        values = (
            "" if signal == "verdict" else f"  [{printable(str(left_value))[:40]} | {printable(str(right_value))[:40]}]"
        )
        print(f"  why {signal:12}{shown} {outcome}{values}", file=out)


def review(dsn: str, target: str | None, answers: Any = sys.stdin, out: Any = sys.stdout) -> dict[str, int]:
    """Walk the pending review pairs: each side by side (differing fields marked *), then m(erge) / d(istinct) /
    s(kip) / q(uit); returns how many pairs were merged, judged distinct, skipped, or could not be decided."""
    decided = {"merged": 0, "distinct": 0, "skipped": 0, "failed": 0}
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        pending = cur.execute(REVIEW_QUEUE_SQL, {"target": target}).fetchall()
        print(f"{len(pending)} pair(s) to review", file=out)
        for c in pending:
            # The rows as the server prints their columns, found by the table's own key column, whatever its name
            # and type.
            left, right = (fetch_by_key(cur, c["target"], k) for k in (c["left_key"], c["right_key"]))
            pair = f"{c['left_key']} | {c['right_key']}"
            why = f" ({c['reason']})" if c["reason"] else ""
            measure = "match probability" if c["reason"] == "model" else "similarity"
            print(f"\n#{c['candidate_id']} {c['target']}  {pair}  {measure} {c['score']:.2f}{why}", file=out)
            for column in left or right:
                lv, rv = (printable(str(side.get(column)))[:60] for side in (left, right))
                mark = "*" if left.get(column) != right.get(column) else " "
                print(f"{mark} {column:14} {lv:60} | {rv}", file=out)
            print_match_evidence(conn, c["target"], c["left_key"], c["right_key"], out)
            answer = read_review_answer(answers, out)
            if answer == "q":
                break
            if answer in ("m", "d"):
                decision = "merge" if answer == "m" else "distinct"
                try:
                    (merge_id,) = conn.execute(
                        "SELECT mlops.review_candidate(%s::bigint, %s::text)", (c["candidate_id"], decision)
                    ).fetchone()
                except psycopg.Error as exc:  # one pair that cannot be decided does not end the review
                    print(f"  not done: {exc.diag.message_primary} ({exc.sqlstate})", file=out)
                    decided["failed"] += 1
                    continue
                if merge_id is not None:
                    print(f"  merged: merge {merge_id} (undo: {command_name()} undo {merge_id})", file=out)
                decided["merged" if answer == "m" else "distinct"] += 1
            else:
                decided["skipped"] += 1
    return decided


def grant(dsn: str, role: str, rule_writer: bool = False, revoke: bool = False) -> list[dict[str, Any]]:
    """mlops.grant_usage (or revoke_usage) for a role: rows (object_type, object_name, privilege) it now holds (or
    lost). NOTICEs naming the user's tables the role still lacks rights on, each with its GRANT, go to stderr."""
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        if revoke:
            cur.execute("SELECT * FROM mlops.revoke_usage(quote_ident(%s)::regrole)", (role,))
        else:
            cur.execute("SELECT * FROM mlops.grant_usage(quote_ident(%s)::regrole, %s)", (role, rule_writer))
        return cur.fetchall()


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


def user_objects(conn: psycopg.Connection, limit: int = 5) -> list[str]:
    """Some relations of the database outside the system schemas: empty means the database holds nothing yet."""
    rows = conn.execute(
        "SELECT c.oid::regclass::text FROM pg_catalog.pg_class AS c"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%%'"
        " AND n.nspname NOT LIKE 'pg_toast_temp%%' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
        " ORDER BY 1 LIMIT %s",
        (limit,),
    ).fetchall()
    return [r[0] for r in rows]


# Per referencing table, over the merges not undone: the colliding rows merged into their twins, how many of them
# differed from their twin (outside keys, references and the index) and in which columns (mlops.merges.conflicts).
CONFLICT_REPORT_SQL = """
SELECT e.key AS referencing_table, string_agg(DISTINCT e.value ->> 'policy', ', ') AS policy,
    sum((e.value ->> 'merged')::bigint) AS merged, sum((e.value ->> 'differed')::bigint) AS differed,
    (SELECT string_agg(DISTINCT c, ', ') FROM mlops.merges AS m2 CROSS JOIN LATERAL jsonb_each(m2.conflicts) AS e2
     CROSS JOIN LATERAL jsonb_array_elements_text(e2.value -> 'columns') AS c
     WHERE m2.undone_at IS NULL AND e2.key = e.key) AS differing_columns
FROM mlops.merges AS m CROSS JOIN LATERAL jsonb_each(m.conflicts) AS e
WHERE m.undone_at IS NULL
GROUP BY e.key ORDER BY e.key
"""


def run_demo(
    dsn: str | None = None, postings: int = 2000, letters: int = 3000, keep: bool = False, yes: bool = False
) -> None:
    """The whole job on generated platform data: the platform's tables, install --platform, dry run, merge,
    before/after, why, stats. Without a DSN on an embedded throwaway server (kept running with keep=True); a given
    database must be empty unless yes=True, since the demo writes ~18k generated rows into it.
    """
    if dsn is None:
        print("starting an embedded throwaway PostgreSQL …")
        server = EmbeddedPostgresql()
        try:
            run_demo(server.url(), postings, letters, yes=True)
        finally:
            if keep:
                print("\n" + server.keep_running())
            else:
                server.stop()
                keep_it = "mlops-dedup demo --keep" if command_name() == "mlops-dedup" else "make demo KEEP=1"
                print(f"the embedded server is stopped and removed; `{keep_it}` keeps it running for a look")
        return
    from mlops_dedup import datagen  # the demo's data generator; not needed by the other commands

    with connect(dsn) as conn:
        held = user_objects(conn)
        if held and not yes:
            raise RunnerError(
                f"the demo writes ~18k generated rows and merges them, and this database is not empty (it holds "
                f"{', '.join(held)}, …): pass --yes to use it anyway, or run the demo without --dsn (its own "
                "embedded throwaway server)"
            )
        if conn.execute("SELECT to_regclass('mlops.job_postings') IS NULL").fetchone()[0]:
            create_platform_schema(conn)
            print("created the platform's tables as the crawler does (platform/schema.sql: serial ids, NO ACTION FKs)")
    print(install(dsn).summary())
    print("\ninstall --platform (the incident's fix and the platform's rules, through the generic routines):")
    print("\n".join("  " + line for line in adopt_platform(dsn).summary().splitlines()))
    with connect(dsn) as conn:
        generated = datagen.generate(conn, postings=postings, letters=letters, dup_fraction=0.1)
        print(
            f"\ngenerated platform data with {generated.pop('planted_pairs')} planted duplicates: "
            + ", ".join(f"{n} {t}" for t, n in generated.items())
        )
        before = table_counts(conn)
    # The platform's tables only: with --yes the database may hold rules of its own, which are not the demo's.
    targets = [rule["target"] for rule in PLATFORM_RULES]
    print("\ndry run (nothing changes):")
    dry = [run for t in targets for run in merge(dsn, t, dry_run=True)]
    print("\n".join("  " + line for line in format_table(dry, RUN_COLUMNS[:5])))
    print("\nmerge:")
    runs = [run for t in targets for run in merge(dsn, t)]
    print("\n".join("  " + line for line in format_table(runs, RUN_COLUMNS)))
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        after = table_counts(conn)
        print("\nrows before -> after (live):")
        for t in before:
            print(f"  {t:22} {before[t]:>7} -> {after[t]:>7}")
        print("\nwhat was merged and why (the first three merges of each table):")
        examples = cur.execute(
            "SELECT target, merge_id, survivor_key, loser_keys, reason, score FROM ("
            " SELECT m.target::text AS target, m.merge_id, m.survivor_key, m.loser_keys, m.reason,"
            " round(m.score::numeric, 3) AS score, row_number() OVER (PARTITION BY m.target ORDER BY m.merge_id) AS n"
            " FROM mlops.merges AS m WHERE m.parent_merge_id IS NULL) AS x WHERE n <= 3 ORDER BY target, merge_id"
        ).fetchall()
        print("\n".join("  " + line for line in format_table(examples, list(examples[0]) if examples else [])))
        print("\ncolliding referencing rows (merged into their twin, per the table's conflict policy):")
        conflicts = cur.execute(CONFLICT_REPORT_SQL).fetchall()
        print("\n".join("  " + line for line in format_table(conflicts, list(conflicts[0]) if conflicts else [])))
    print("\nstats:")
    for view, rows in stats(dsn).items():
        print(f"  mlops.{view}")
        print("\n".join("    " + line for line in format_table(rows, list(rows[0]) if rows else [])))
    print(f"\nundo any merge with: {command_name()} undo MERGE_ID --dsn {dsn}")


def alerts(dsn: str, check: bool = False) -> list[dict[str, Any]]:
    """The open alerts (rows of mlops.alerts: alert_id, kind, severity, target, run_id, message, detail, raised_at,
    ...), oldest first; with check=True after evaluating the alert rules now (mlops.check_alerts)."""
    with connect(dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
        if check:
            cur.execute("SELECT count(*) FROM mlops.check_alerts()")
        return cur.execute(
            "SELECT a.alert_id, a.kind, a.severity, a.target::text AS target, a.run_id, a.raised_at, a.message,"
            " a.detail, a.delivered_at FROM mlops.alerts AS a WHERE a.resolved_at IS NULL ORDER BY a.alert_id"
        ).fetchall()
