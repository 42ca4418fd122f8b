#!/usr/bin/env python3
"""History benchmark (issue 11): what the merge log's size costs a lookup and a run, next to hand-written floors.

In its own schema (bench_history: letters with soft-delete columns, recommendations referencing them), in any
database with the package installed:
  resolve_id: mlops.resolve_id per call (a server-side loop of calls with old keys of a chain), with `small` and then
      `big` merges logged (synthetic rows inserted into mlops.merges directly); floor: the same number of one-probe
      lookups written by hand (merge_losers + merges by primary key), in the same run;
  stale re-point: mlops.merge_repoint_stale with `stale_rows` soft-deleted merged rows and nothing to move; floor:
      the one join a person would write (references to soft-deleted rows), in the same run.
Shared buffers touched are reported beside the times.

    python bench/history.py                      # 1k / 1M merges, 30k soft-deleted rows
    python bench/history.py --big 100000
bench/steady.py imports measure().
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from merge import backend_peak_kib, platform_database

import runner

SCHEMA = """
DROP SCHEMA IF EXISTS bench_history CASCADE;
CREATE SCHEMA bench_history;
CREATE TABLE bench_history.letters (
    id integer PRIMARY KEY, url text, content text NOT NULL, deleted_at timestamptz, merged_into integer
);
CREATE TABLE bench_history.recommendations (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    letter_id integer REFERENCES bench_history.letters (id),
    job integer NOT NULL
);
"""

LETTERS = "bench_history.letters"

# Merge i took key 10^8 + 2i into 10^8 + 2i - 1 (rows that do not exist): the history, not the data.
SYNTHETIC = """
INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, survivor_id, loser_ids, reason, soft_deleted)
SELECT 'bench_history.letters'::regclass, 'int4'::regtype, (100000000 + 2 * i - 1)::text,
    ARRAY[(100000000 + 2 * i)::text], 100000000 + 2 * i - 1, ARRAY[100000000 + 2 * i], 'bench', false
FROM generate_series(%(first)s::int, %(last)s::int) AS i
"""

# The lookups: `calls` old keys, each the loser of a 2-merge chain (3g -> 3g-1 -> 3g-2), resolved in one statement.
RESOLVE = (
    "SELECT count(mlops.resolve_id('bench_history.letters'::regclass, 3 * g))"
    " FROM generate_series(1, %(calls)s::int) AS g"
)
FLOOR = """
SELECT count(*) FROM generate_series(1, %(calls)s::int) AS g
CROSS JOIN LATERAL (
    SELECT m.survivor_key FROM mlops.merge_losers AS l INNER JOIN mlops.merges AS m ON m.merge_id = l.merge_id
    WHERE l.target = 'bench_history.letters'::regclass AND l.loser_key = (3 * g)::text AND m.undone_at IS NULL
    ORDER BY l.merge_id DESC LIMIT 1
) AS s1
CROSS JOIN LATERAL (
    SELECT m.survivor_key FROM mlops.merge_losers AS l INNER JOIN mlops.merges AS m ON m.merge_id = l.merge_id
    WHERE l.target = 'bench_history.letters'::regclass AND l.loser_key = s1.survivor_key AND m.undone_at IS NULL
    ORDER BY l.merge_id DESC LIMIT 1
) AS s2
WHERE EXISTS (SELECT FROM bench_history.letters AS t WHERE t.id = s2.survivor_key::integer)
"""
STALE = "SELECT mlops.merge_repoint_stale('bench_history.letters'::regclass)"
STALE_FLOOR = (
    "SELECT DISTINCT s.id FROM bench_history.letters AS s INNER JOIN bench_history.recommendations AS r"
    " ON r.letter_id = s.id WHERE s.merged_into IS NOT NULL AND s.deleted_at IS NOT NULL"
)


def best_seconds(conn: psycopg.Connection, sql: str, params: dict | None = None, repeat: int = 3) -> float:
    """Fastest of `repeat` runs (after one to warm caches and plans)."""
    conn.execute(sql, params)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        conn.execute(sql, params)
        times.append(time.perf_counter() - started)
    return min(times)


def buffers(conn: psycopg.Connection, sql: str, params: dict | None = None) -> int:
    plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()[0]
    top = (json.loads(plan) if isinstance(plan, str) else plan)[0]["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"]


def lookup_cost(conn: psycopg.Connection, calls: int) -> dict:
    params = {"calls": calls}
    ours = best_seconds(conn, RESOLVE, params)
    floor = best_seconds(conn, FLOOR, params)
    return {
        "merges_logged": conn.execute("SELECT count(*) FROM mlops.merges").fetchone()[0],
        "resolve_id_ms_per_call": round(1000 * ours / calls, 4),
        "floor_ms_per_call": round(1000 * floor / calls, 4),
        "resolve_id_buffers_per_call": round(buffers(conn, RESOLVE, params) / calls, 1),
        "floor_buffers_per_call": round(buffers(conn, FLOOR, params) / calls, 1),
    }


def log_synthetic(conn: psycopg.Connection, first: int, last: int) -> None:
    for start in range(first, last + 1, 200_000):
        conn.execute(SYNTHETIC, {"first": start, "last": min(last, start + 199_999)})
    conn.execute("VACUUM ANALYZE mlops.merges, mlops.merge_losers")


def measure(
    dsn_or_conn: str | psycopg.Connection,
    small: int = 1_000,
    big: int = 1_000_000,
    stale_rows: int = 30_000,
    calls: int = 400,
) -> dict:
    """Runs the history benchmark in the database (package installed; schema bench_history is created there, and
    `big` synthetic merges are logged into its mlops.merges). Returns the figures as a dict."""
    if isinstance(dsn_or_conn, psycopg.Connection):
        return _measure(dsn_or_conn, small, big, stale_rows, calls)
    with psycopg.connect(dsn_or_conn, autocommit=True) as conn:
        return _measure(conn, small, big, stale_rows, calls)


def _measure(conn: psycopg.Connection, small: int, big: int, stale_rows: int, calls: int) -> dict:
    conn.execute(SCHEMA)
    letters = 3 * calls + 2 * stale_rows + 2
    # letters 1 .. letters; recommendations: two per letter
    conn.execute(
        "INSERT INTO bench_history.letters (id, url, content)"
        " SELECT i, 'https://letters.example.com/' || i, 'text ' || i FROM generate_series(1, %s) AS i",
        (letters,),
    )
    conn.execute(
        "INSERT INTO bench_history.recommendations (letter_id, job)"
        " SELECT i, k FROM generate_series(1, %s) AS i, generate_series(1, 2) AS k",
        (letters,),
    )
    conn.execute("ANALYZE bench_history.letters, bench_history.recommendations")
    # chains for the lookups: 3g into 3g-1, then 3g-1 into 3g-2 (deleted, not soft-deleted: resolve_id's own case)
    for step in ("3 * g - 1, 3 * g", "3 * g - 2, 3 * g - 1"):
        survivor, loser = step.split(", ")
        conn.execute(
            f"SELECT mlops.merge_clusters('{LETTERS}', ARRAY(SELECT {survivor} FROM generate_series(1, %s::int) AS g),"
            f" ARRAY(SELECT {loser} FROM generate_series(1, %s::int) AS g), 'bench')",
            (calls, calls),
        )
    real = conn.execute("SELECT count(*) FROM mlops.merges").fetchone()[0]
    result: dict = {"calls": calls}
    log_synthetic(conn, 1, max(small - real, 1))
    result["small"] = lookup_cost(conn, calls)
    log_synthetic(conn, max(small - real, 1) + 1, big - real)
    result["big"] = lookup_cost(conn, calls)
    result["resolve_id_big_over_small"] = round(
        result["big"]["resolve_id_ms_per_call"] / result["small"]["resolve_id_ms_per_call"], 2
    )

    # stale re-point: stale_rows letters soft-deleted by merges (their references moved), nothing left to move
    first = 3 * calls + 1
    conn.execute(
        f"SELECT mlops.merge_clusters('{LETTERS}', ARRAY(SELECT 2 * g - 1 FROM generate_series(%s::int, %s::int) AS g),"
        " ARRAY(SELECT 2 * g FROM generate_series(%s::int, %s::int) AS g), 'bench', NULL, NULL, true)",
        (first // 2 + 1, first // 2 + stale_rows, first // 2 + 1, first // 2 + stale_rows),
    )
    conn.execute("VACUUM ANALYZE bench_history.letters, bench_history.recommendations, mlops.merges")
    soft = conn.execute("SELECT count(*) FROM bench_history.letters WHERE deleted_at IS NOT NULL").fetchone()[0]
    assert conn.execute(STALE).fetchone()[0] == 0
    result["stale"] = {
        "soft_deleted_rows": soft,
        "merges_logged": conn.execute("SELECT count(*) FROM mlops.merges").fetchone()[0],
        "seconds": round(best_seconds(conn, STALE), 4),
        "floor_seconds": round(best_seconds(conn, STALE_FLOOR), 4),
        "buffers": buffers(conn, STALE),
        "floor_buffers": buffers(conn, STALE_FLOOR),
    }
    peak = backend_peak_kib(conn.info.backend_pid)
    result["backend_peak_mib"] = round(peak / 1024, 1) if peak else None
    result["targets"] = {
        "resolve_id_big_over_small_le_2": result["resolve_id_big_over_small"] <= 2,
        "stale_le_0.1_s": result["stale"]["seconds"] <= 0.1,
    }
    conn.execute("DROP SCHEMA bench_history CASCADE")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000, help="merges logged for the first lookup figure")
    parser.add_argument("--big", type=int, default=1_000_000, help="merges logged for the second")
    parser.add_argument("--stale-rows", type=int, default=30_000, help="soft-deleted merged rows")
    parser.add_argument("--calls", type=int, default=400, help="resolve_id calls per figure (2 real merges each)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "history.json")
    args = parser.parse_args()

    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
        print(f"PostgreSQL {admin.info.server_version}, fsync={admin.execute('SHOW fsync').fetchone()[0]}")
        dsn = platform_database(admin, server, "bench_history")
        result = measure(dsn, args.small, args.big, args.stale_rows, args.calls)
        admin.execute("DROP DATABASE IF EXISTS bench_history")
    print(json.dumps(result, indent=2))
    s, b, st = result["small"], result["big"], result["stale"]
    print("\n| what | ours | floor (same run) |\n|---|---|---|")
    print(
        f"| resolve_id, {s['merges_logged']:,} merges logged | {s['resolve_id_ms_per_call']} ms/call "
        f"({s['resolve_id_buffers_per_call']} buffers) | {s['floor_ms_per_call']} ms ({s['floor_buffers_per_call']}) |"
    )
    print(
        f"| resolve_id, {b['merges_logged']:,} merges logged | {b['resolve_id_ms_per_call']} ms/call "
        f"({b['resolve_id_buffers_per_call']} buffers) | {b['floor_ms_per_call']} ms ({b['floor_buffers_per_call']}) |"
    )
    print(
        f"| stale re-point, {st['soft_deleted_rows']:,} soft-deleted rows, nothing to move | {st['seconds']} s "
        f"({st['buffers']} buffers) | {st['floor_seconds']} s ({st['floor_buffers']}) |"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
