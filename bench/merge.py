#!/usr/bin/env python3
"""Merge benchmark: the incident's Python script vs hand-written set-based SQL vs mlops.merge_clusters.

On identical copies of generated platform data (cover letters in duplicate pairs, recommendations, interactions),
on an embedded PostgreSQL with default durability (fsync on), over TCP. Every database is made as in production
(platform_database): the platform's own tables (platform/schema.sql: serial integer ids, no index on
job_recommendations.job_id, user_interactions.job_id or user_interactions.recommendation_id), then the package
installed, then the platform adopted (install --platform: ON DELETE CASCADE on the job_recommendations FKs,
soft-delete columns, the platform's rules); all three methods run on that same schema:
  (a) incident: per duplicate, UPDATE job_recommendations SET resume_id = keep WHERE resume_id = dup, then
      DELETE the duplicate; one round trip each, each statement committed (autocommit), as the script ran;
  (b) floor: one UPDATE and one DELETE for the whole mapping, nothing else;
  (c) ours: mlops.merge_clusters for the whole mapping in one transaction (locks, collision plan, archive,
      move log for undo).
(a) stops at the first unique violation, as it did in production, so (a)/(b)/(c) run on data without
collisions; (c) is also timed on data where recommendations collide.

On the platform's schema user_interactions.recommendation_id has no index, so every colliding recommendation that
(c) deletes is checked against user_interactions by a sequential scan: the collision column grows with
(collisions x interactions), i.e. quadratically (5k losers x 10 refs: 26-32 s, 2.5 s with that index).

    python bench/merge.py                      # 10k and 100k losers, 1 and 10 references each
    python bench/merge.py --losers 10000 --refs 1
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runner

# Ids are given explicitly (the serial columns take them as they are; the sequences are moved past them below).
# Letter 2g-1 survives, letter 2g is its duplicate. Each letter is recommended for `refs` jobs; a loser's jobs
# are disjoint from its survivor's, or, with collisions, overlap them (half of them for refs > 1, one in ten
# losers for refs = 1), so re-pointing would hit UNIQUE (resume_id, job_id).
GENERATE = """
INSERT INTO mlops.job_postings (id, url, title)
SELECT j, 'https://jobs.example.com/' || j, 'job ' || j FROM generate_series(1, %(jobs)s) AS j;

INSERT INTO mlops.cover_letter_samples (id, url, title, content)
SELECT i, 'https://letters.example.com/' || ((i + 1) / 2), 'letter ' || ((i + 1) / 2),
       repeat('I have built machine learning pipelines. ', 10) || ((i + 1) / 2)
FROM generate_series(1, 2 * %(losers)s) AS i;

INSERT INTO mlops.job_recommendations (resume_id, job_id, score)
SELECT i,
       1 + (((i + 1) / 2) * 7 + k
            + CASE WHEN i %% 2 = 0 THEN
                CASE WHEN NOT %(collide)s THEN %(refs)s
                     WHEN %(refs)s > 1 THEN %(refs)s / 2
                     WHEN (i / 2) %% 10 = 0 THEN 0 ELSE 1 END
              ELSE 0 END) %% %(jobs)s,
       0.5
FROM generate_series(1, 2 * %(losers)s) AS i, generate_series(0, %(refs)s - 1) AS k;

INSERT INTO mlops.user_interactions (user_id, job_id, recommendation_id, interaction_type)
SELECT r.id %% 1000, r.job_id, r.id, 'view' FROM mlops.job_recommendations AS r WHERE r.id %% 10 = 0;

SELECT setval(pg_get_serial_sequence('mlops.job_postings', 'id'), %(jobs)s);
SELECT setval(pg_get_serial_sequence('mlops.cover_letter_samples', 'id'), 2 * %(losers)s);
ANALYZE;
"""


def empty_database(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, name: str, options: str = "") -> str:
    """A new, empty database (dropped first if it exists), with CREATE DATABASE options of ours (locale,
    encoding). Returns its DSN."""
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name} {options}")
    return server.url(database=name)


def platform_database(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, name: str, options: str = ""
) -> str:
    """A new database as the platform's is in production: the platform's own tables (created by the platform, not
    the package), then the package installed, then the platform adopted (install --platform). Returns its DSN."""
    dsn = empty_database(admin, server, name, options)
    with psycopg.connect(dsn, autocommit=True) as conn:
        runner.create_platform_schema(conn)
    runner.install(dsn)
    runner.adopt_platform(dsn)
    return dsn


def make_template(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, name: str, **params: object) -> None:
    dsn = platform_database(admin, server, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(GENERATE % params)  # integers and booleans of ours only


def fresh_copy(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, template: str, name: str) -> str:
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    admin.execute("CHECKPOINT")  # the copy's writes are not charged to the method timed next
    return server.url(database=name)


def incident_script(conn: psycopg.Connection, pairs: list[tuple[int, int]]) -> None:
    # autocommit connection: each statement commits on its own, as the script's execute_query did
    with conn.cursor() as cur:
        for keep, dup in pairs:
            cur.execute("UPDATE mlops.job_recommendations SET resume_id = %s WHERE resume_id = %s", (keep, dup))
            cur.execute("DELETE FROM mlops.cover_letter_samples WHERE id = %s", (dup,))


def set_based_floor(conn: psycopg.Connection, pairs: list[tuple[int, int]]) -> None:
    # the platform's ids are integer (serial): arrays of the columns' own type
    keep, dup = [p[0] for p in pairs], [p[1] for p in pairs]
    with conn.transaction():
        conn.execute(
            "UPDATE mlops.job_recommendations AS r SET resume_id = m.keep"
            " FROM unnest(%s::integer[], %s::integer[]) AS m (keep, dup) WHERE r.resume_id = m.dup",
            (keep, dup),
        )
        conn.execute("DELETE FROM mlops.cover_letter_samples WHERE id = ANY(%s::integer[])", (dup,))


def merge_core(conn: psycopg.Connection, pairs: list[tuple[int, int]]) -> None:
    # merge_clusters takes bigint[] whatever the key's type
    keep, dup = [p[0] for p in pairs], [p[1] for p in pairs]
    with conn.transaction():
        conn.execute(
            "SELECT * FROM mlops.merge_clusters('mlops.cover_letter_samples', %s::bigint[], %s::bigint[], 'bench')",
            (keep, dup),
        )


def backend_peak_kib(pid: int) -> int | None:
    """Peak resident memory of the server backend (VmHWM), where /proc lets us read it."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def timed(dsn: str, method: Callable[[psycopg.Connection, list[tuple[int, int]]], None], losers: int) -> dict:
    pairs = [(2 * g - 1, 2 * g) for g in range(1, losers + 1)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        pid = conn.info.backend_pid
        moved_before = conn.execute(
            "SELECT count(*) FROM mlops.job_recommendations WHERE resume_id % 2 = 0"
        ).fetchone()[0]
        started = time.perf_counter()
        error = None
        try:
            method(conn, pairs)
        except psycopg.errors.UniqueViolation as exc:
            error = str(exc).splitlines()[0]
        seconds = time.perf_counter() - started
        peak = backend_peak_kib(pid)
        left = conn.execute("SELECT count(*) FROM mlops.cover_letter_samples WHERE id % 2 = 0").fetchone()[0]
    return {
        "seconds": round(seconds, 3),
        "losers_per_s": round(losers / seconds),
        "references": moved_before,
        "losers_left": left,
        "backend_peak_mib": round(peak / 1024, 1) if peak else None,
        "error": error,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losers", default="10000,100000", help="comma-separated loser counts")
    parser.add_argument("--refs", default="1,10", help="comma-separated references per loser")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "merge.json")
    args = parser.parse_args()

    results = []
    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
        fsync = admin.execute("SHOW fsync").fetchone()[0]
        print(f"PostgreSQL {admin.info.server_version}, fsync={fsync}, TCP {admin.info.host}")
        for losers in [int(x) for x in args.losers.split(",")]:
            for refs in [int(x) for x in args.refs.split(",")]:
                row: dict = {"losers": losers, "refs": refs}
                make_template(admin, server, "bench_clean", losers=losers, refs=refs, jobs=2000, collide=False)
                make_template(admin, server, "bench_collide", losers=losers, refs=refs, jobs=2000, collide=True)
                for label, method in (("a", incident_script), ("b", set_based_floor), ("c", merge_core)):
                    row[label] = timed(fresh_copy(admin, server, "bench_clean", "bench_run"), method, losers)
                row["c_collisions"] = timed(fresh_copy(admin, server, "bench_collide", "bench_run"), merge_core, losers)
                row["a_over_c"] = round(row["a"]["seconds"] / row["c"]["seconds"], 1)
                row["c_over_b"] = round(row["c"]["seconds"] / row["b"]["seconds"], 2)
                results.append(row)
                print(json.dumps(row), flush=True)
        admin.execute("DROP DATABASE IF EXISTS bench_run")

    client_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nclient peak RSS {client_peak:.0f} MiB\n")
    print(
        "| losers | refs/loser | (a) incident s | (b) floor s | (c) ours s | (c) losers/s | a/c | c/b "
        "| (c) with collisions s | backend peak MiB (c) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['losers']:,} | {r['refs']} | {r['a']['seconds']} | {r['b']['seconds']} | {r['c']['seconds']} "
            f"| {r['c']['losers_per_s']:,} | {r['a_over_c']}x | {r['c_over_b']}x | {r['c_collisions']['seconds']} "
            f"| {r['c']['backend_peak_mib']} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"client_peak_mib": round(client_peak), "runs": results}, indent=2))


if __name__ == "__main__":
    main()
