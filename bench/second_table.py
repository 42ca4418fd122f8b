#!/usr/bin/env python3
"""The first run of a second table's rule (found by issue 14's fresh-user test): its run's end checks which boilerplate
sentences fell back under the cap (mlops.dedup_signatures_uncapped) while the statistics of mlops.dedup_signatures
still describe the first table only.

    python bench/second_table.py               # 30k letters, 20k postings (datagen), ~2 min

On an embedded PostgreSQL: the platform's tables, generated data, install --platform; the letters' first run; ANALYZE
of mlops.dedup_signatures (as autovacuum does when only the letters' signatures are stored); then the postings'
first run, timed. Before the fix the planner expected one row for the new table and probed (target, key) once per
removed sentence: that run did not end within minutes (over 20 minutes once). Seconds on stdout and in
bench/results/second_table.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runner
from mlops_dedup import datagen

RESULTS = Path(__file__).resolve().parent / "results" / "second_table.json"


def main() -> None:
    with runner.EmbeddedPostgresql() as server:
        dsn = server.url()
        with psycopg.connect(dsn, autocommit=True) as conn:
            runner.create_platform_schema(conn)
            datagen.generate(conn, postings=20000, letters=30000, dup_fraction=0.1)
        runner.install(dsn)
        runner.adopt_platform(dsn)
        result = {}
        for table in ("mlops.cover_letter_samples", "mlops.job_postings"):
            started = time.monotonic()
            (run,) = runner.merge(dsn, table, progress=lambda severity, text: None)
            result[table] = {
                "seconds": round(time.monotonic() - started, 1),
                "status": run["status"],
                "rows_merged": run["rows_merged"],
            }
            print(f"{table}: first run {result[table]['seconds']} s, {run['status']}, {run['rows_merged']} rows merged")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("ANALYZE mlops.dedup_signatures")
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
