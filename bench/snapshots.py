#!/usr/bin/env python3
"""What the end of a run costs (issue 13): the metrics snapshot and the alert check that close every CALL.

    python bench/snapshots.py                 # 50k letters (datagen), ~4 min
    python bench/snapshots.py --letters 20000

On an embedded PostgreSQL (fsync on, TCP), a database made as in production (merge.platform_database), generated
platform data, a first full run; then, three times each, side by side on the same database:
  incremental   100 new letters (10 % duplicates of live ones) and a CALL mlops.merge_duplicates() as shipped: the
                runs' snapshot skips the whole-table counts (measured within the hour), the alert check runs;
  measure       SELECT mlops.record_metrics() alone: what counting every rule's table costs (what each incremental
                CALL would pay if it measured every time);
  check         SELECT mlops.check_alerts(ARRAY[]::bigint[]): the alert rules alone (no runs to look at).
Medians in seconds on stdout and in bench/results/snapshots.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from merge import platform_database

import runner
from mlops_dedup import datagen

NEW_LETTERS = """
INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT l.url || CASE WHEN l.n <= 10 THEN '?utm_source=bench' ELSE '/new/' || %(round)s || '/' || l.n END,
    l.title, l.company, l.position,
    CASE WHEN l.n <= 10 THEN l.content ELSE l.content || ' new letter ' || %(round)s || ' ' || l.n END
FROM (SELECT l.*, row_number() OVER (ORDER BY l.id) AS n FROM mlops.cover_letter_samples AS l
      WHERE l.merged_into IS NULL) AS l
WHERE l.n <= 100
"""


def timed(conn: psycopg.Connection, sql: str, params: object = None) -> float:
    started = time.perf_counter()
    conn.execute(sql, params)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=50_000)
    args = parser.parse_args()
    server = runner.EmbeddedPostgresql()
    try:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            dsn = platform_database(admin, server, "bench_snapshots")
        with runner.connect(dsn) as conn:
            datagen.generate(conn, postings=args.letters // 10, letters=args.letters, dup_fraction=0.1)
            conn.execute("CALL mlops.merge_duplicates()")  # the first, full runs (measured)
            figures: dict[str, list[float]] = {"incremental": [], "measure": [], "check": []}
            for number in range(3):
                conn.execute(NEW_LETTERS, {"round": number})
                figures["incremental"].append(timed(conn, "CALL mlops.merge_duplicates()"))
                figures["measure"].append(timed(conn, "SELECT count(*) FROM mlops.record_metrics()"))
                figures["check"].append(timed(conn, "SELECT count(*) FROM mlops.check_alerts(ARRAY[]::bigint[])"))
            full = conn.execute(
                "SELECT count(*) FILTER (WHERE full_pass), count(*) FILTER (WHERE NOT full_pass)"
                " FROM mlops.dedup_runs WHERE NOT dry_run"
            ).fetchone()
        result = {
            "letters": args.letters,
            "full_runs": full[0],
            "incremental_runs": full[1],
            **{name: round(statistics.median(values), 3) for name, values in figures.items()},
            "samples": {name: [round(v, 3) for v in values] for name, values in figures.items()},
        }
    finally:
        server.stop()
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parent / "results" / "snapshots.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
