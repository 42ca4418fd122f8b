#!/usr/bin/env python3
"""Pipeline benchmark: CALL mlops.merge_duplicates end to end against the incident's Python script.

    python bench/pipeline.py                   # 100k cover letters, 10% URL duplicates (~5 min)
    python bench/pipeline.py --letters 20000

Same work on identical copies (fsync on, TCP): remove the cover letters whose normalized URL repeats, keeping the
lowest id, and re-point their recommendations. (a) the incident's script: read id and normalized URL, group in
Python, then per duplicate UPDATE job_recommendations and DELETE, one round trip and commit each; (b) CALL
mlops.merge_duplicates with an exact-URL-only rule (hard delete with archive, as the script deletes). The data has
no colliding recommendations, since (a) stops at the first. Then the platform's full rule (URL and text, soft
delete, fill) end to end on generated data with near-duplicates and collisions, reported on its own.

Each database is made as in production (merge.platform_database): the platform's tables (platform/schema.sql:
serial ids, no index on user_interactions.recommendation_id or the job_id FKs), the package installed, the platform
adopted (CASCADE on the job_recommendations FKs, soft-delete columns, the platform's two rules); (a) and (b) run on
copies of the same database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from merge import fresh_copy, platform_database

import runner
from mlops_dedup import datagen

LETTERS = "mlops.cover_letter_samples"

# Ids are given explicitly (serial columns; the sequences are moved past them below).
# Letter i (i > 0.9 N) is a URL variant of letter i - 0.9 N; every letter is recommended for one job, a
# duplicate for another job than its original's, so re-pointing never collides.
URL_DUPLICATES = """
INSERT INTO mlops.job_postings (id, url)
SELECT j, 'https://jobs.example.com/' || j FROM generate_series(1, 1997) AS j;
INSERT INTO mlops.cover_letter_samples (id, url, content)
SELECT i,
       CASE WHEN i > %(originals)s
            THEN 'https://www.letters.example.com/samples/' || (i - %(originals)s) || '/?utm_source=crawler'
            ELSE 'https://letters.example.com/samples/' || i END,
       repeat('I have built machine learning pipelines in production. ', 25) || i
FROM generate_series(1, %(letters)s) AS i;
INSERT INTO mlops.job_recommendations (resume_id, job_id, score)
SELECT i, 1 + (CASE WHEN i > %(originals)s THEN i + 1000 ELSE i END) %% 1997, 0.5
FROM generate_series(1, %(letters)s) AS i;
SELECT setval(pg_get_serial_sequence('mlops.job_postings', 'id'), 1997);
SELECT setval(pg_get_serial_sequence('mlops.cover_letter_samples', 'id'), %(letters)s);
ANALYZE;
"""

# The exact-URL-only rule (a) is compared with: hard delete with archive, as the script deletes.
URL_ONLY_RULE = (
    "UPDATE mlops.dedup_rules SET similar_text = NULL, soft_delete = false, fill_nulls = false"
    " WHERE target = 'mlops.cover_letter_samples'::regclass"
)


def incident_script(dsn: str) -> float:
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        keep: dict[str, int] = {}
        duplicates: list[tuple[int, int]] = []
        for row_id, url in conn.execute(f"SELECT id, mlops.normalize_url(url) FROM {LETTERS} ORDER BY id").fetchall():
            if url is None:  # url is nullable: no URL is no duplicate (the data here has none)
                continue
            if url in keep:
                duplicates.append((keep[url], row_id))
            else:
                keep[url] = row_id
        with conn.cursor() as cur:
            for kept, dup in duplicates:
                cur.execute("UPDATE mlops.job_recommendations SET resume_id = %s WHERE resume_id = %s", (kept, dup))
                cur.execute(f"DELETE FROM {LETTERS} WHERE id = %s", (dup,))
    return time.perf_counter() - started


def merge_duplicates(dsn: str, setup: str | None = None) -> tuple[float, dict]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        if setup:
            conn.execute(setup)
        started = time.perf_counter()
        conn.execute("CALL mlops.merge_duplicates(%s::regclass, p_batch_size => 5000)", (LETTERS,))
        seconds = time.perf_counter() - started
        run = conn.execute(
            "SELECT status, rows_merged, references_moved, conflicts_merged, detect_ms, merge_ms"
            " FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    return seconds, dict(
        zip(
            ("status", "rows_merged", "references_moved", "conflicts_merged", "detect_ms", "merge_ms"), run, strict=True
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "pipeline.json")
    args = parser.parse_args()
    originals = args.letters * 9 // 10
    results: dict = {}
    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
        dsn = platform_database(admin, server, "pipeline_urls")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(URL_DUPLICATES % {"letters": args.letters, "originals": originals})
        a = incident_script(fresh_copy(admin, server, "pipeline_urls", "pipeline_run"))
        b, run = merge_duplicates(fresh_copy(admin, server, "pipeline_urls", "pipeline_run"), URL_ONLY_RULE)
        results["url_duplicates"] = {
            "letters": args.letters,
            "duplicates": args.letters - originals,
            "incident_script_s": round(a, 1),
            "merge_duplicates_s": round(b, 1),
            "speedup": round(a / b, 1),
            "run": run,
        }
        print(json.dumps(results["url_duplicates"]), flush=True)

        dsn = platform_database(admin, server, "pipeline_full")
        with psycopg.connect(dsn, autocommit=True) as conn:
            generated = datagen.generate(conn, postings=5000, letters=args.letters, dup_fraction=0.1)
        seconds, run = merge_duplicates(dsn)
        results["full_rule"] = {"generated": generated, "seconds": round(seconds, 1), "run": run}
        print(json.dumps(results["full_rule"]), flush=True)
        for name in ("pipeline_run", "pipeline_urls", "pipeline_full"):
            admin.execute(f"DROP DATABASE IF EXISTS {name}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
