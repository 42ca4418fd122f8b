"""mlops-dedup: duplicate detection and foreign-key-safe merging inside PostgreSQL.

The Python API (each function opens its own connection from a libpq DSN/URL):

    import mlops_dedup
    mlops_dedup.install(dsn)                      # InstallReport: migrations applied, routines re-applied
    runs = mlops_dedup.merge(dsn)                 # list of dicts: this call's rows of mlops.dedup_runs
    mlops_dedup.summarize(runs)                   # {"status", "errors", "failed", "rows_merged", ...}

Errors the database raises are psycopg.Error subclasses with .sqlstate and .diag; the runner's own are RunnerError.
Progress (the server's NOTICE lines) goes to the logger "mlops_dedup" or to merge(..., progress=callback).
The command line is `mlops-dedup` (mlops_dedup.cli.main).
"""

from mlops_dedup.api import (
    EmbeddedPostgresql,
    InstallReport,
    MergeCancelled,
    MigrationError,
    PlatformReport,
    RunnerError,
    adopt_platform,
    alerts,
    connect,
    create_platform_schema,
    fk_policy_report,
    grant,
    install,
    merge,
    review,
    runs_by_application,
    stats,
    summarize,
    undo,
)

__version__ = "0.2.0"

__all__ = [
    "EmbeddedPostgresql",
    "InstallReport",
    "MergeCancelled",
    "MigrationError",
    "PlatformReport",
    "RunnerError",
    "__version__",
    "adopt_platform",
    "alerts",
    "connect",
    "create_platform_schema",
    "fk_policy_report",
    "grant",
    "install",
    "merge",
    "review",
    "runs_by_application",
    "stats",
    "summarize",
    "undo",
]
