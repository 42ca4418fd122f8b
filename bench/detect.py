#!/usr/bin/env python3
"""Detection benchmark: mlops.dedup_detect on generated data with planted duplicates, against the pg_trgm self-join.

    python bench/detect.py                          # everything below at the default sizes (~15 min)
    python bench/detect.py --only letters --letters 10000

Reports rows/s, recall of planted duplicate pairs at the rule threshold, backend peak memory, the 10k -> 100k
scaling ratio, the exact pass on URLs, and the GIN self-join (a.txt % b.txt) on the same rows at a size where it
finishes, with its time, our time and our recall of its pairs.

Each database is made as in production (merge.platform_database): the platform's tables (platform/schema.sql), the
package installed, the platform adopted (its rules, soft-delete columns). pg_trgm is wherever install found or put
it (usually public), looked up in pg_extension for the recall check and the self-join.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psycopg
import psycopg.sql

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from merge import backend_peak_kib, platform_database

import datagen
import runner

LETTERS = "mlops.cover_letter_samples"
POSTINGS = "mlops.job_postings"


def trgm_schema(conn: psycopg.Connection) -> str:
    """The schema pg_trgm lives in, quoted for SQL text (install uses it where it is, or creates it in the
    connection's default schema)."""
    (schema,) = conn.execute(
        "SELECT n.nspname FROM pg_catalog.pg_extension AS e"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'"
    ).fetchone()
    return psycopg.sql.Identifier(schema).as_string(conn)


def detect(conn: psycopg.Connection, target: str) -> dict:
    """Time one detection pass and read its result back."""
    started = time.perf_counter()
    live, candidates, members, review = conn.execute(
        "SELECT * FROM mlops.dedup_detect(%s::regclass)", (target,)
    ).fetchone()
    seconds = time.perf_counter() - started
    return {
        "rows": live,
        "seconds": round(seconds, 2),
        "rows_per_s": round(live / seconds),
        "candidate_pairs": candidates,
        "members": members,
        "review_pairs": review,
        "backend_peak_mib": round((backend_peak_kib(conn.info.backend_pid) or 0) / 1024),
    }


def planted_recall(conn: psycopg.Connection, target: str, text_sql: str) -> dict:
    """Share of planted pairs at or above the threshold (by similarity, or same URL) found by detection."""
    (threshold,) = conn.execute(
        "SELECT threshold FROM mlops.dedup_rules WHERE target = %s::regclass", (target,)
    ).fetchone()
    trgm = trgm_schema(conn)
    found, total = conn.execute(
        f"""
        SELECT count(*) FILTER (WHERE EXISTS (
                   SELECT FROM pg_temp.mlops_dedup_edges AS e WHERE e.a = p.original AND e.b = p.copy
                   AND e.score >= %(t)s)),
               count(*)
        FROM planted_pairs AS p
        JOIN {target} AS o ON o.id = p.original JOIN {target} AS c ON c.id = p.copy
        WHERE p.target = %(target)s
          AND ({trgm}.similarity({text_sql.replace("t.", "o.")}, {text_sql.replace("t.", "c.")}) >= %(t)s
               OR mlops.normalize_url(o.url) = mlops.normalize_url(c.url))
        """,
        {"t": threshold, "target": target},
    ).fetchone()
    return {"planted_pairs_at_threshold": total, "recall": round(found / total, 4) if total else None}


def self_join(conn: psycopg.Connection, target: str, text_sql: str) -> dict:
    """The anchor: a pg_trgm GIN self-join at the rule threshold on the same live rows, and our recall of it."""
    (threshold,) = conn.execute(
        "SELECT threshold FROM mlops.dedup_rules WHERE target = %s::regclass", (target,)
    ).fetchone()
    conn.execute(
        f"CREATE TEMP TABLE sj AS SELECT t.id, {text_sql} AS txt FROM {target} AS t WHERE t.merged_into IS NULL"
    )
    trgm = trgm_schema(conn)
    conn.execute(f"CREATE INDEX ON sj USING gin (txt {trgm}.gin_trgm_ops)")
    conn.execute("ANALYZE sj")
    conn.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, false)", (str(threshold),))
    started = time.perf_counter()
    pairs = set(
        conn.execute(
            f"SELECT a.id, b.id FROM sj AS a JOIN sj AS b ON a.txt OPERATOR({trgm}.%) b.txt AND a.id < b.id"
        ).fetchall()
    )
    seconds = time.perf_counter() - started
    ours = detect(conn, target)
    found = set(
        conn.execute("SELECT a, b FROM pg_temp.mlops_dedup_edges WHERE a < b AND score >= %s", (threshold,)).fetchall()
    )
    conn.execute("DROP TABLE sj")
    return {
        "rows": ours["rows"],
        "self_join_seconds": round(seconds, 1),
        "self_join_pairs": len(pairs),
        "ours_seconds": ours["seconds"],
        "speedup": round(seconds / ours["seconds"], 1),
        "recall_of_self_join_pairs": round(len(pairs & found) / len(pairs), 4) if pairs else None,
    }


POSTING_TEXT = (
    "coalesce(t.title, '') || ' | ' || coalesce(t.company, '') || ' | ' || coalesce(t.location, '')"
    " || '. ' || coalesce(t.description, '')"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--postings", type=int, default=100_000)
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--scaling-small", type=int, default=10_000)
    parser.add_argument("--selfjoin-letters", type=int, default=2_000)
    parser.add_argument("--selfjoin-postings", type=int, default=20_000)
    parser.add_argument("--only", choices=["letters", "postings", "urls", "selfjoin"])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "detect.json")
    args = parser.parse_args()

    results: dict = {}
    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:

        def step(name: str, value: dict) -> None:
            results[name] = value
            print(name, json.dumps(value), flush=True)

        if args.only in (None, "letters"):
            for n in (args.scaling_small, args.letters):
                with psycopg.connect(platform_database(admin, server, "bench_detect"), autocommit=True) as conn:
                    datagen.generate(conn, postings=1000, letters=n, dup_fraction=0.1)
                    value = detect(conn, LETTERS)
                    value.update(planted_recall(conn, LETTERS, "t.content"))
                    step(f"letters_{n}", value)
            small, big = results[f"letters_{args.scaling_small}"], results[f"letters_{args.letters}"]
            step(
                "letters_scaling",
                {
                    "ratio": round(big["seconds"] / small["seconds"], 2),
                    "rows_ratio": round(big["rows"] / small["rows"], 2),
                },
            )
        if args.only in (None, "postings"):
            with psycopg.connect(platform_database(admin, server, "bench_detect"), autocommit=True) as conn:
                datagen.generate(conn, postings=args.postings, letters=100, dup_fraction=0.1)
                value = detect(conn, POSTINGS)
                value.update(planted_recall(conn, POSTINGS, POSTING_TEXT))
                step(f"postings_{args.postings}", value)
        if args.only in (None, "urls"):
            with psycopg.connect(platform_database(admin, server, "bench_detect"), autocommit=True) as conn:
                # an exact-key-only rule: 1M URLs, one in ten a tracking or www./slash variant of another
                conn.execute(
                    "CREATE TABLE public.crawled_urls (id bigint PRIMARY KEY, url text NOT NULL);"
                    f"INSERT INTO public.crawled_urls SELECT i, CASE WHEN i % 10 = 0"
                    "   THEN 'https://www.jobs.example.com/postings/' || (i - 1) || '/?utm_source=feed&b=2&a=1'"
                    "   ELSE 'https://jobs.example.com/postings/' || i || '?a=1&b=2' END"
                    f" FROM generate_series(1, {args.urls}) AS i;"
                    "ANALYZE public.crawled_urls;"
                    "INSERT INTO mlops.dedup_rules (target, exact_key, keep_order)"
                    " VALUES ('public.crawled_urls', 'mlops.normalize_url(t.url)', 't.id')"
                )
                value = detect(conn, "public.crawled_urls")
                value["expected_members"] = args.urls // 10
                step(f"urls_{args.urls}", value)
        if args.only in (None, "selfjoin"):
            with psycopg.connect(platform_database(admin, server, "bench_detect"), autocommit=True) as conn:
                datagen.generate(conn, postings=args.selfjoin_postings, letters=args.selfjoin_letters, dup_fraction=0.1)
                step(f"selfjoin_letters_{args.selfjoin_letters}", self_join(conn, LETTERS, "t.content"))
                step(f"selfjoin_postings_{args.selfjoin_postings}", self_join(conn, POSTINGS, POSTING_TEXT))
        admin.execute("DROP DATABASE IF EXISTS bench_detect")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
