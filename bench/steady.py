#!/usr/bin/env python3
"""Steady-state benchmark (issue 11): each run of CALL mlops.merge_duplicates beside a hand-written floor, same run.

    python bench/steady.py                       # 50k and 200k letters, 50k-letter URL pipeline, 1M URLs
    python bench/steady.py --quick               # 5k and 20k letters, 20k-letter pipeline, 100k URLs (minutes)
    python bench/steady.py --sizes 50000 --only steady

On an embedded PostgreSQL (fsync on, TCP), every database made as in production (merge.platform_database: the
platform's tables, the package, install --platform with its two rules):
  steady    generated platform data (datagen: letters, postings = letters / 10, recommendations, interactions) at
            each size: a fresh run (p_full => true); then the same absolute number of new letters at every size
            (default 1% of the smallest), a tenth of them duplicates of live old letters (half URL variants, half
            near-duplicate texts), about half of them with a new recommendation; an incremental run (the default
            CALL) beside the floor on a copy of the same database: new rows' normalized URL and sentence hashes
            probed against an indexed signature table of the old rows (built before the clock starts), verified
            with pg_trgm similarity, then the duplicates re-pointed, filled and soft-deleted set-based. Both find
            the same duplicates or the agreement says where not. Then a run with nothing new.
  pipeline  the exact-URL rule on bench/pipeline.py's data (10% URL duplicates): a fresh run beside a set-based
            floor (group by normalized URL, re-point recommendations, delete), and the incident's per-row script.
  urls      1M rows (id, url), exact-key rule on mlops.normalize_url(t.url), 5% duplicates, no references: the
            detection pass (mlops.dedup_detect) beside the same GROUP BY in plain SQL, and the whole CALL beside
            that GROUP BY with a DELETE.
  inserts   the application's writes with and without incremental detection's capture triggers, on copies of one
            database: single-row INSERTs each committed (a crawler saving pages), single-row INSERTs in one
            transaction (the worst case for a statement trigger), one INSERT ... SELECT of many rows; best of 3.
  history   bench/history.py's measure() (resolve_id at 1k vs 1M logged merges, stale re-point with 30k merged
            rows), when that file exists.

Backend peak memory: each measured call gets a fresh connection; the figure is the backend's VmHWM after the call
minus its VmHWM at connect (the high-water mark cannot be reset), in MB. Until merge_duplicates has a p_full
parameter (read from pg_proc.proargnames) every CALL is a full pass and the "incremental" figures are full runs.
Results: a table on stdout, every figure with its target, ratio and met/missed in bench/results/steady.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pipeline
from detect import create_crawled_urls, trgm_schema
from merge import backend_peak_kib, fresh_copy, platform_database

import runner
from mlops_dedup import datagen

try:
    import history
except ImportError:  # bench/history.py is another change of issue 11; reported as not measured until it lands
    history = None

LETTERS = "mlops.cover_letter_samples"
LIVE = "t.deleted_at IS NULL AND t.merged_into IS NULL"
# Sentences as detection splits them (dedup_detect step 3a: . ! ? ; and line breaks, chunks of 12+ characters).
SENTENCES = "string_to_table(translate({txt}, E'!?;\\n\\r', '.....'), '.')"
# The size the exact pass's target (10 s) is set for.
URLS_TARGET_SIZE = 1_000_000
# A sentence more rows share than this is boilerplate (detection's document-frequency cap).
DF_CAP = 100

# New letters after the fresh run: `dups` copies of random live old letters (odd ones URL variants with the same
# text, even ones near-duplicates with one to three words changed), `fresh` new letters; a recommendation for about
# half of the new rows (never for a job the copy's original already has: no collision by construction), and an
# interaction for some of those. bench_new_pairs (original, copy, kind) is the truth.
NEW_ROWS = """
SELECT setseed({seed});
CREATE TABLE public.bench_new_pairs (original integer NOT NULL, copy integer NOT NULL, kind text NOT NULL);
CREATE TEMP TABLE bench_picked AS
SELECT p.*, nextval(pg_get_serial_sequence('mlops.cover_letter_samples', 'id'))::integer AS new_id,
       CASE WHEN row_number() OVER (ORDER BY p.id) % 2 = 1 THEN 'url' ELSE 'near' END AS kind
FROM (
    SELECT t.id, t.url, t.title, t.company, t.position, t.content FROM mlops.cover_letter_samples AS t
    WHERE {live} AND t.url NOT LIKE '%?%' ORDER BY random() LIMIT {dups}
) AS p;
INSERT INTO mlops.cover_letter_samples (id, url, title, company, position, content)
SELECT p.new_id,
       CASE WHEN p.kind = 'url' THEN replace(p.url, 'https://', 'https://www.') || '/?utm_source=crawler'
            ELSE p.url || '/copy-near-new' END,
       p.title, p.company, p.position,
       CASE WHEN p.kind = 'url' THEN p.content ELSE pg_temp.datagen_edit(p.content, 1 + floor(random() * 3)::int) END
FROM bench_picked AS p ORDER BY p.new_id;
INSERT INTO public.bench_new_pairs SELECT p.id, p.new_id, p.kind FROM bench_picked AS p;
INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT 'https://letters.example.com/samples/new-' || g, 'New cover letter ' || g,
       CASE WHEN random() < 0.8 THEN 'Company ' || (1 + floor(random() * 2000)::int) END,
       CASE WHEN random() < 0.8 THEN 'ML Engineer' END, pg_temp.datagen_letter(14)
FROM generate_series(1, {fresh}) AS g;
WITH live AS (SELECT array_agg(t.id ORDER BY t.id) AS ids FROM mlops.job_postings AS t WHERE {live})
INSERT INTO mlops.job_recommendations (resume_id, job_id, score)
SELECT t.id, j.job_id, round(random()::numeric, 3)
FROM mlops.cover_letter_samples AS t
CROSS JOIN live
CROSS JOIN LATERAL (SELECT live.ids[1 + (t.id * 37 + 5) % cardinality(live.ids)] AS job_id) AS j
LEFT JOIN public.bench_new_pairs AS p ON p.copy = t.id
WHERE t.id > {max_old} AND t.id % 2 = 0
  AND NOT EXISTS (SELECT FROM mlops.job_recommendations AS r WHERE r.resume_id = p.original AND r.job_id = j.job_id)
ON CONFLICT DO NOTHING;
INSERT INTO mlops.user_interactions (user_id, job_id, recommendation_id, interaction_type)
SELECT 1 + floor(random() * 5000)::int, r.job_id, r.id, 'view'
FROM mlops.job_recommendations AS r WHERE r.resume_id > {max_old} AND random() < 0.3;
"""

# What an incremental system keeps between runs, built before the floor's clock starts: the old live letters'
# normalized URLs, normalized texts, and sentence hashes (boilerplate past the cap left out), indexed.
SIGNATURES = """
CREATE TABLE public.bench_sig_url AS
SELECT mlops.normalize_url(t.url) AS k, t.id FROM mlops.cover_letter_samples AS t WHERE {live} AND t.id <= {max_old};
DELETE FROM public.bench_sig_url WHERE k IS NULL;
CREATE INDEX bench_sig_url_k_idx ON public.bench_sig_url (k);
CREATE TABLE public.bench_sig_text AS
SELECT t.id, mlops.normalize_text(t.content) AS txt FROM mlops.cover_letter_samples AS t
WHERE {live} AND t.id <= {max_old};
ALTER TABLE public.bench_sig_text ADD PRIMARY KEY (id);
CREATE TABLE public.bench_sig_sentence AS
SELECT y.id, y.h, count(*) OVER (PARTITION BY y.id) AS n
FROM (
    SELECT DISTINCT x.id, hashtext(btrim(c.chunk)) AS h
    FROM public.bench_sig_text AS x CROSS JOIN LATERAL {sentences} AS c (chunk) WHERE length(btrim(c.chunk)) >= 12
) AS y;
CREATE TABLE public.bench_sig_common AS
SELECT s.h FROM public.bench_sig_sentence AS s GROUP BY s.h HAVING count(*) > {df_cap};
ALTER TABLE public.bench_sig_common ADD PRIMARY KEY (h);
DELETE FROM public.bench_sig_sentence AS s USING public.bench_sig_common AS c WHERE s.h = c.h;
CREATE INDEX bench_sig_sentence_h_idx ON public.bench_sig_sentence (h);
ANALYZE public.bench_sig_url, public.bench_sig_text, public.bench_sig_sentence, public.bench_sig_common;
"""

# The timed floor of an incremental run, one transaction: the new rows' signatures probed against the stored ones
# (and against each other), verified (same URL: text at review_threshold; shared sentence: at threshold), each new
# row's best partner, survivor by the rule's keep order; then collisions, re-point, fill, soft delete.
FLOOR_DETECT = """
CREATE TEMP TABLE f_new AS
SELECT t.id, mlops.normalize_url(t.url) AS k, mlops.normalize_text(t.content) AS txt
FROM mlops.cover_letter_samples AS t WHERE {live} AND t.id > {max_old};
CREATE TEMP TABLE f_sent AS
SELECT y.id, y.h, y.n
FROM (
    SELECT x.id, x.h, count(*) OVER (PARTITION BY x.id) AS n
    FROM (
        SELECT DISTINCT n.id, hashtext(btrim(c.chunk)) AS h
        FROM f_new AS n CROSS JOIN LATERAL {sentences} AS c (chunk) WHERE length(btrim(c.chunk)) >= 12
    ) AS x
) AS y
WHERE NOT EXISTS (SELECT FROM public.bench_sig_common AS c WHERE c.h = y.h);
ANALYZE f_new, f_sent;
CREATE TEMP TABLE f_map AS
WITH sentence_pairs AS (
    SELECT n.id AS a, s.id AS b, least(n.n, s.n) AS n
    FROM f_sent AS n JOIN public.bench_sig_sentence AS s ON s.h = n.h
    UNION ALL
    SELECT n1.id, n2.id, least(n1.n, n2.n) FROM f_sent AS n1 JOIN f_sent AS n2 ON n2.h = n1.h AND n2.id < n1.id
),
candidates AS (
    SELECT n.id AS a, s.id AS b, true AS by_url FROM f_new AS n JOIN public.bench_sig_url AS s ON s.k = n.k
    UNION ALL
    SELECT n1.id, n2.id, true FROM f_new AS n1 JOIN f_new AS n2 ON n2.k = n1.k AND n2.id < n1.id
    UNION ALL
    -- as detection: two shared sentences when both texts have four or more, else one
    SELECT p.a, p.b, false FROM sentence_pairs AS p
    GROUP BY p.a, p.b HAVING count(*) >= CASE WHEN min(p.n) >= 4 THEN 2 ELSE 1 END
),
scored AS (
    SELECT c.a, c.b, c.by_url, {trgm}.similarity(na.txt, coalesce(o.txt, nb.txt)) AS score
    FROM (SELECT c.a, c.b, bool_or(c.by_url) AS by_url FROM candidates AS c GROUP BY c.a, c.b) AS c
    JOIN f_new AS na ON na.id = c.a
    LEFT JOIN public.bench_sig_text AS o ON o.id = c.b
    LEFT JOIN f_new AS nb ON nb.id = c.b
),
best AS (
    SELECT DISTINCT ON (s.a) s.a, s.b FROM scored AS s
    WHERE s.score >= CASE WHEN s.by_url THEN {review} ELSE {threshold} END
    ORDER BY s.a, s.by_url DESC, s.score DESC, s.b
),
ranked AS (
    SELECT p.a, p.b, t.id, row_number() OVER (PARTITION BY p.a, p.b ORDER BY {keep_order}) AS rn
    FROM best AS p JOIN mlops.cover_letter_samples AS t ON t.id IN (p.a, p.b)
)
SELECT DISTINCT ON (m.id) m.id AS member, s.id AS survivor
FROM ranked AS s JOIN ranked AS m ON m.a = s.a AND m.b = s.b AND m.rn = 2
WHERE s.rn = 1
ORDER BY m.id, s.id;
"""

FLOOR_MERGE = """
CREATE TEMP TABLE f_clash AS
SELECT rm.id AS loser, rs.id AS kept, greatest(rm.score, rs.score) AS score
FROM f_map AS m
JOIN mlops.job_recommendations AS rm ON rm.resume_id = m.member
JOIN mlops.job_recommendations AS rs ON rs.resume_id = m.survivor AND rs.job_id = rm.job_id;
UPDATE mlops.user_interactions AS i SET recommendation_id = c.kept
FROM f_clash AS c WHERE i.recommendation_id = c.loser;
UPDATE mlops.job_recommendations AS r SET score = c.score FROM f_clash AS c WHERE r.id = c.kept;
DELETE FROM mlops.job_recommendations AS r USING f_clash AS c WHERE r.id = c.loser;
UPDATE mlops.job_recommendations AS r SET resume_id = m.survivor FROM f_map AS m WHERE r.resume_id = m.member;
UPDATE mlops.cover_letter_samples AS s
SET url = coalesce(s.url, l.url), title = coalesce(s.title, l.title), company = coalesce(s.company, l.company),
    position = coalesce(s.position, l.position)
FROM f_map AS m JOIN mlops.cover_letter_samples AS l ON l.id = m.member
WHERE s.id = m.survivor AND (s.url IS NULL OR s.title IS NULL OR s.company IS NULL OR s.position IS NULL);
UPDATE mlops.cover_letter_samples AS t SET deleted_at = now(), merged_into = m.survivor
FROM f_map AS m WHERE t.id = m.member;
"""

# The exact-URL pipeline's floor (hard delete, as the script and the URL-only rule do), one transaction.
URL_FLOOR = """
CREATE TEMP TABLE f_map AS
SELECT x.id AS member, x.keep AS survivor
FROM (SELECT t.id, first_value(t.id) OVER (PARTITION BY mlops.normalize_url(t.url) ORDER BY t.id) AS keep
      FROM mlops.cover_letter_samples AS t WHERE t.url IS NOT NULL) AS x
WHERE x.id <> x.keep;
UPDATE mlops.job_recommendations AS r SET resume_id = m.survivor FROM f_map AS m WHERE r.resume_id = m.member;
DELETE FROM mlops.cover_letter_samples AS t USING f_map AS m WHERE t.id = m.member;
"""

# The 1M-URL exact pass's floor: the same grouping in plain SQL (each row with its group's lowest id).
CRAWLED_FLOOR = """
CREATE TEMP TABLE f_map AS
SELECT x.id AS member, x.keep AS survivor
FROM (SELECT t.id, min(t.id) OVER (PARTITION BY mlops.normalize_url(t.url)) AS keep FROM public.crawled_urls AS t) AS x
WHERE x.id <> x.keep
"""


# ---------------------------------------------------------------- measuring


def measured(dsn: str, action: Callable[[psycopg.Connection], None]) -> dict[str, Any]:
    """Time action on a fresh autocommit connection; the backend's peak memory over its baseline at connect."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        pid = conn.info.backend_pid
        baseline = backend_peak_kib(pid)
        started = time.perf_counter()
        action(conn)
        seconds = time.perf_counter() - started
        peak = backend_peak_kib(pid)
    mb = round((peak - baseline) / 1024, 1) if peak is not None and baseline is not None else None
    return {"seconds": round(seconds, 3), "peak_mb": mb}


def has_full_parameter(dsn: str) -> bool:
    """Whether mlops.merge_duplicates takes p_full (the incremental feature of issue 11)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        (found,) = conn.execute(
            "SELECT coalesce(bool_or('p_full' = ANY (p.proargnames)), false) FROM pg_catalog.pg_proc AS p"
            " JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'mlops' AND p.proname = 'merge_duplicates'"
        ).fetchone()
    return found


def call_sql(full: bool, p_full: bool, target: str | None = None, batch_size: int | None = None) -> str:
    """CALL mlops.merge_duplicates: p_full => true for a fresh run where the parameter exists, else the default."""
    args = []
    if target:
        args.append(f"p_target => '{target}'::regclass")  # our constant table names
    if batch_size:
        args.append(f"p_batch_size => {int(batch_size)}")
    if full and p_full:
        args.append("p_full => true")
    return f"CALL mlops.merge_duplicates({', '.join(args)})"


def run_call(admin: psycopg.Connection, dsn: str, sql: str) -> dict[str, Any]:
    """One measured CALL and what its runs in mlops.dedup_runs report (summed over the rules it ran)."""
    admin.execute("CHECKPOINT")  # earlier writes are not charged to this call
    with psycopg.connect(dsn, autocommit=True) as conn:
        (last_run,) = conn.execute("SELECT coalesce(max(run_id), 0) FROM mlops.dedup_runs").fetchone()
    result = measured(dsn, lambda conn: conn.execute(sql))
    with psycopg.connect(dsn, autocommit=True) as conn:
        statuses, merged, moved, detect_ms, merge_ms = conn.execute(
            "SELECT string_agg(DISTINCT status, ','), sum(rows_merged), sum(references_moved), sum(detect_ms),"
            " sum(merge_ms) FROM mlops.dedup_runs WHERE run_id > %s",
            (last_run,),
        ).fetchone()
    result.update(
        {
            "status": statuses,
            "rows_merged": merged,
            "references_moved": moved,
            "detect_ms": detect_ms,
            "merge_ms": merge_ms,
        }
    )
    return result


def run_floor(admin: psycopg.Connection, dsn: str, statements: str) -> dict[str, Any]:
    """The hand-written floor, measured, in one transaction."""
    admin.execute("CHECKPOINT")

    def floor(conn: psycopg.Connection) -> None:
        with conn.transaction():
            conn.execute(statements)

    return measured(dsn, floor)


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    if not numerator or not denominator:
        return None
    return round(numerator / denominator, digits)


def target(name: str, value: float | None, limit: float, unit: str = "x") -> dict[str, Any]:
    """A target row: value against its limit (value <= limit is met)."""
    met = None if value is None else value <= limit
    return {"target": name, "value": value, "limit": f"<= {limit}{unit}", "met": met}


# ---------------------------------------------------------------- steady state


def merged_pairs(dsn: str, since: Any) -> set[tuple[int, int]]:
    """Letters soft-deleted since `since`, as unordered (row, the row it went into) pairs."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT least(t.id, t.merged_into), greatest(t.id, t.merged_into) FROM mlops.cover_letter_samples AS t"
            " WHERE t.merged_into IS NOT NULL AND t.deleted_at >= %s",
            (since,),
        ).fetchall()
    return {(a, b) for a, b in rows}


def server_now(dsn: str) -> Any:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT clock_timestamp()").fetchone()[0]


def floor_statements(dsn: str, max_old: int) -> str:
    """The floor's SQL for this database: thresholds, keep order and pg_trgm's schema read first, not timed."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        threshold, review, keep_order = conn.execute(
            "SELECT r.threshold, r.review_threshold,"
            " coalesce(r.keep_order, mlops.dedup_default_keep_order(r.target))"
            " FROM mlops.dedup_rules AS r WHERE r.target = %s::regclass",
            (LETTERS,),
        ).fetchone()
        trgm = trgm_schema(conn)
    detect = FLOOR_DETECT.format(
        live=LIVE,
        max_old=int(max_old),
        sentences=SENTENCES.format(txt="n.txt"),
        trgm=trgm,
        threshold=float(threshold),
        review=float(review),
        keep_order=keep_order,
    )
    return detect + FLOOR_MERGE


def steady(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, letters: int, new_rows: int, p_full: bool):
    """Fresh run, 1% new rows (incremental run beside its floor), nothing new, at one size."""
    name = f"steady_{letters}"
    dsn = platform_database(admin, server, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        generated = datagen.generate(conn, postings=max(letters // 10, 100), letters=letters, dup_fraction=0.1)
    fresh = run_call(admin, dsn, call_sql(full=True, p_full=p_full))
    print(f"  {letters:,} letters: fresh run {fresh['seconds']} s", flush=True)

    dups = max(new_rows // 10, 2)
    with psycopg.connect(dsn, autocommit=True) as conn:
        (max_old,) = conn.execute("SELECT max(id) FROM mlops.cover_letter_samples").fetchone()
        datagen.setup_functions(conn)
        conn.execute(
            NEW_ROWS.format(seed=0.7, live=LIVE, dups=dups, fresh=new_rows - dups, max_old=max_old)
        )  # integers of ours only
        (new_refs,) = conn.execute(
            "SELECT count(*) FROM mlops.job_recommendations WHERE resume_id > %s", (max_old,)
        ).fetchone()
        truth = {
            (min(a, b), max(a, b))
            for a, b in conn.execute("SELECT original, copy FROM public.bench_new_pairs").fetchall()
        }

    floor_dsn = fresh_copy(admin, server, name, f"{name}_floor")
    with psycopg.connect(floor_dsn, autocommit=True) as conn:
        conn.execute(
            SIGNATURES.format(live=LIVE, max_old=int(max_old), sentences=SENTENCES.format(txt="x.txt"), df_cap=DF_CAP)
        )
    floor_since = server_now(floor_dsn)
    floor = run_floor(admin, floor_dsn, floor_statements(floor_dsn, max_old))
    floor_found = merged_pairs(floor_dsn, floor_since)

    since = server_now(dsn)
    incremental = run_call(admin, dsn, call_sql(full=False, p_full=p_full))
    ours_found = merged_pairs(dsn, since)
    nothing_new = run_call(admin, dsn, call_sql(full=False, p_full=p_full))
    print(
        f"  {letters:,} letters: {new_rows} new rows: incremental {incremental['seconds']} s, floor"
        f" {floor['seconds']} s; nothing new {nothing_new['seconds']} s",
        flush=True,
    )
    admin.execute(f"DROP DATABASE IF EXISTS {name}_floor")
    admin.execute(f"DROP DATABASE IF EXISTS {name}")
    both = ours_found & floor_found
    union = ours_found | floor_found
    return {
        "letters": letters,
        "generated": generated,
        "new_rows": new_rows,
        "new_duplicates_planted": len(truth),
        "new_recommendations": new_refs,
        "fresh": fresh,
        "incremental": incremental,
        "floor": floor,
        "nothing_new": nothing_new,
        "found": {
            "ours_pairs": len(ours_found),
            "floor_pairs": len(floor_found),
            "both": len(both),
            "only_ours": sorted(ours_found - floor_found)[:20],
            "only_floor": sorted(floor_found - ours_found)[:20],
            "agreement": round(len(both) / len(union), 4) if union else 1.0,
            "ours_recall_of_planted": round(len(truth & ours_found) / len(truth), 4) if truth else None,
            "floor_recall_of_planted": round(len(truth & floor_found) / len(truth), 4) if truth else None,
        },
        "incremental_over_floor": ratio(incremental["seconds"], floor["seconds"]),
        "nothing_new_over_fresh": ratio(nothing_new["seconds"], fresh["seconds"], 4),
    }


# ---------------------------------------------------------------- exact keys


def url_pipeline(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, letters: int, p_full: bool) -> dict:
    """The exact-URL rule's fresh run on bench/pipeline.py's data, beside the set-based floor and the incident
    script."""
    originals = letters * 9 // 10
    dsn = platform_database(admin, server, "steady_urls")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(pipeline.URL_DUPLICATES % {"letters": letters, "originals": originals})
        conn.execute(pipeline.URL_ONLY_RULE)  # before the copies: the rule change is not charged to the run
    copy = fresh_copy(admin, server, "steady_urls", "steady_urls_run")
    ours = run_call(admin, copy, call_sql(full=True, p_full=p_full, target=LETTERS, batch_size=5000))
    ours["letters_left"] = count_letters(copy)
    copy = fresh_copy(admin, server, "steady_urls", "steady_urls_run")
    floor = run_floor(admin, copy, URL_FLOOR)
    floor["letters_left"] = count_letters(copy)
    copy = fresh_copy(admin, server, "steady_urls", "steady_urls_run")
    incident = {"seconds": round(pipeline.incident_script(copy), 3), "letters_left": count_letters(copy)}
    for name in ("steady_urls_run", "steady_urls"):
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
    print(f"  URL pipeline {letters:,}: ours {ours['seconds']} s, floor {floor['seconds']} s", flush=True)
    return {
        "letters": letters,
        "duplicates": letters - originals,
        "ours": ours,
        "floor": floor,
        "incident_script": incident,
        "ours_over_floor": ratio(ours["seconds"], floor["seconds"]),
    }


def count_letters(dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM mlops.cover_letter_samples WHERE deleted_at IS NULL").fetchone()[0]


def crawled_urls(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, urls: int, p_full: bool) -> dict:
    """The exact pass over `urls` URLs (5% duplicates): detection and the whole CALL, each beside its floor."""
    dsn = platform_database(admin, server, "steady_crawled")
    with psycopg.connect(dsn, autocommit=True) as conn:
        create_crawled_urls(conn, urls, every=20)
    detect = measured(dsn, lambda conn: conn.execute("SELECT * FROM mlops.dedup_detect('public.crawled_urls')"))
    group_by = run_floor(admin, dsn, CRAWLED_FLOOR)
    copy = fresh_copy(admin, server, "steady_crawled", "steady_crawled_run")
    ours = run_call(admin, copy, call_sql(full=True, p_full=p_full, target="public.crawled_urls", batch_size=5000))
    copy = fresh_copy(admin, server, "steady_crawled", "steady_crawled_run")
    floor = run_floor(
        admin, copy, CRAWLED_FLOOR + "; DELETE FROM public.crawled_urls AS t USING f_map AS m WHERE t.id = m.member"
    )
    for name in ("steady_crawled_run", "steady_crawled"):
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
    print(f"  {urls:,} URLs: detection {detect['seconds']} s, GROUP BY {group_by['seconds']} s", flush=True)
    return {
        "urls": urls,
        "duplicates": urls // 20,
        "detect": detect,
        "group_by_floor": group_by,
        "detect_over_floor": ratio(detect["seconds"], group_by["seconds"]),
        "merge_duplicates": ours,
        "group_by_delete_floor": floor,
        "merge_over_floor": ratio(ours["seconds"], floor["seconds"]),
    }


# ---------------------------------------------------------------- history


INSERT_ONE = "INSERT INTO mlops.cover_letter_samples (url, content) VALUES (%s, %s)"


def insert_timings(dsn: str, rows: int, batch: int) -> dict[str, float]:
    """Seconds for the three kinds of writes; the table is emptied (TRUNCATE) before each."""
    timings: dict[str, float] = {}
    text = "I have built data pipelines in production for years. " * 20
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE mlops.user_interactions, mlops.job_recommendations, mlops.cover_letter_samples")
        started = time.perf_counter()
        for i in range(rows):
            conn.execute(INSERT_ONE, (f"https://l.example.com/c/{i}", text))
        timings["single-row, each committed"] = time.perf_counter() - started
        conn.execute("TRUNCATE mlops.user_interactions, mlops.job_recommendations, mlops.cover_letter_samples")
        started = time.perf_counter()
        with conn.transaction():
            for i in range(rows):
                conn.execute(INSERT_ONE, (f"https://l.example.com/t/{i}", text))
        timings["single-row, one transaction"] = time.perf_counter() - started
        conn.execute("TRUNCATE mlops.user_interactions, mlops.job_recommendations, mlops.cover_letter_samples")
        started = time.perf_counter()
        conn.execute(
            "INSERT INTO mlops.cover_letter_samples (url, content)"
            " SELECT 'https://l.example.com/b/' || i, %s FROM generate_series(1, %s) AS i",
            (text, batch),
        )
        timings["one INSERT ... SELECT"] = time.perf_counter() - started
    return timings


def insert_overhead(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, rows: int, batch: int) -> dict:
    """The application's inserts with the capture triggers (incremental rule, after its first run) and without
    (incremental = false), alternating, best of 3 each."""
    base = "steady_inserts"
    platform_database(admin, server, base)
    captured = fresh_copy(admin, server, base, f"{base}_captured")
    plain = fresh_copy(admin, server, base, f"{base}_plain")
    with psycopg.connect(captured, autocommit=True) as conn:
        conn.execute("SELECT mlops.dedup_track_changes('mlops.cover_letter_samples')")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("UPDATE mlops.dedup_rules SET incremental = false")
    best: dict[str, dict[str, float]] = {"captured": {}, "plain": {}}
    for _ in range(3):
        for name, dsn in (("plain", plain), ("captured", captured)):
            for kind, seconds in insert_timings(dsn, rows, batch).items():
                best[name][kind] = min(seconds, best[name].get(kind, seconds))
    for name in (base, f"{base}_captured", f"{base}_plain"):
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
    return {
        "rows": rows,
        "batch": batch,
        "kinds": {
            kind: {
                "plain_s": round(best["plain"][kind], 3),
                "captured_s": round(best["captured"][kind], 3),
                "overhead": round(best["captured"][kind] / best["plain"][kind] - 1, 4),
            }
            for kind in best["plain"]
        },
    }


def merge_history(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, quick: bool) -> dict:
    """bench/history.py's measure() on a platform database of its own (100k logged merges with --quick, else 1M)."""
    if history is None or not hasattr(history, "measure"):
        return {"measured": False, "why": "bench/history.py (measure) not present"}
    dsn = platform_database(admin, server, "steady_history")
    result = history.measure(dsn, big=100_000 if quick else 1_000_000)
    admin.execute("DROP DATABASE IF EXISTS steady_history")
    return {"measured": True, **result}


# ---------------------------------------------------------------- report


def targets_of(results: dict, sizes: list[int]) -> list[dict]:
    rows = []
    steady_runs = results.get("steady", {})
    for n in sizes:
        run = steady_runs.get(str(n))
        if run:
            rows.append(target(f"incremental / floor, {n:,} letters", run["incremental_over_floor"], 2))
            rows.append(target(f"nothing new / fresh, {n:,} letters", run["nothing_new_over_fresh"], 0.02))
    if len(steady_runs) > 1:
        small, big = steady_runs[str(sizes[0])], steady_runs[str(sizes[-1])]
        rows.append(
            target(
                f"incremental {sizes[-1]:,} / {sizes[0]:,} letters, {small['new_rows']} new rows each",
                ratio(big["incremental"]["seconds"], small["incremental"]["seconds"]),
                1.5,
            )
        )
    if "pipeline" in results:
        p = results["pipeline"]
        rows.append(target(f"exact-URL pipeline / floor, {p['letters']:,} letters", p["ours_over_floor"], 1.5))
    if "urls" in results:
        u = results["urls"]
        if u["urls"] >= URLS_TARGET_SIZE:
            rows.append(target(f"exact pass over {u['urls']:,} URLs (s)", u["detect"]["seconds"], 10, " s"))
        else:  # the target is set for 1M URLs: a smaller run is scaled up linearly, and says so
            scaled = round(u["detect"]["seconds"] * URLS_TARGET_SIZE / u["urls"], 2)
            name = f"exact pass over {URLS_TARGET_SIZE:,} URLs, linear from {u['urls']:,} (s)"
            rows.append(target(name, scaled, 10, " s"))
    for kind, figures in results.get("inserts", {}).get("kinds", {}).items():
        rows.append(target(f"insert overhead of change capture: {kind}", figures["overhead"], 0.10, ""))
    h = results.get("history", {})
    if h.get("measured"):
        rows.append(target("resolve_id, 1M logged merges / 1k", h["resolve_id_big_over_small"], 2))
        rows.append(
            target("stale re-point, 30k soft-deleted rows, nothing to move (s)", h["stale"]["seconds"], 0.1, " s")
        )
    return rows


def figure_rows(results: dict) -> list[dict]:
    """One row per measured call: ours beside the floor where there is one."""
    rows = []

    def add(what: str, ours: dict, floor: dict | None = None, note: str = "") -> None:
        rows.append(
            {
                "what": what,
                "ours s": ours["seconds"],
                "ours MB": ours.get("peak_mb"),
                "floor s": floor["seconds"] if floor else None,
                "floor MB": floor.get("peak_mb") if floor else None,
                "ours/floor": ratio(ours["seconds"], floor["seconds"]) if floor else None,
                "note": note,
            }
        )

    for n, run in results.get("steady", {}).items():
        letters = f"{int(n):,} letters"
        add(f"fresh run, {letters}", run["fresh"], note=f"{run['fresh']['rows_merged']} merged")
        found = run["found"]
        add(
            f"{run['new_rows']} new rows, {letters}",
            run["incremental"],
            run["floor"],
            f"pairs ours {found['ours_pairs']} floor {found['floor_pairs']} agree {found['agreement']};"
            f" planted recall {found['ours_recall_of_planted']} / {found['floor_recall_of_planted']}",
        )
        add(f"nothing new, {letters}", run["nothing_new"], note=f"{run['nothing_new_over_fresh']} of fresh")
    if "pipeline" in results:
        p = results["pipeline"]
        add(
            f"exact-URL pipeline, {p['letters']:,} letters",
            p["ours"],
            p["floor"],
            f"incident script {p['incident_script']['seconds']} s; left {p['ours']['letters_left']}"
            f" / {p['floor']['letters_left']} / {p['incident_script']['letters_left']}",
        )
    if "urls" in results:
        u = results["urls"]
        add(f"exact pass (detect), {u['urls']:,} URLs", u["detect"], u["group_by_floor"])
        add(f"merge_duplicates, {u['urls']:,} URLs", u["merge_duplicates"], u["group_by_delete_floor"])
    if "inserts" in results:
        ins = results["inserts"]
        for kind, figures in ins["kinds"].items():
            count = ins["batch"] if kind.startswith("one INSERT") else ins["rows"]
            add(
                f"inserts with change capture: {kind} ({count:,} rows)",
                {"seconds": figures["captured_s"]},
                {"seconds": figures["plain_s"]},
                "floor: the same inserts without the capture triggers",
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5k/20k letters, 20k-letter pipeline, 100k URLs")
    parser.add_argument("--sizes", help="comma-separated cover-letter counts (default 50000,200000)")
    parser.add_argument("--new-rows", type=int, help="new letters per size (default 1%% of the smallest size)")
    parser.add_argument("--pipeline-letters", type=int)
    parser.add_argument("--urls", type=int)
    parser.add_argument("--only", choices=["steady", "pipeline", "urls", "inserts", "history"])
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "steady.json")
    args = parser.parse_args()
    sizes = sorted(int(x) for x in (args.sizes or ("5000,20000" if args.quick else "50000,200000")).split(","))
    new_rows = args.new_rows or max(sizes[0] // 100, 20)
    pipeline_letters = args.pipeline_letters or (20_000 if args.quick else 50_000)
    urls = args.urls or (100_000 if args.quick else 1_000_000)

    results: dict[str, Any] = {"sizes": sizes, "new_rows": new_rows, "quick": args.quick}
    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
        fsync = admin.execute("SHOW fsync").fetchone()[0]
        results["server"] = {"version": admin.info.server_version, "fsync": fsync}
        probe = platform_database(admin, server, "steady_probe")
        p_full = has_full_parameter(probe)
        admin.execute("DROP DATABASE IF EXISTS steady_probe")
        results["p_full_parameter"] = p_full
        print(
            f"PostgreSQL {admin.info.server_version}, fsync={fsync}; merge_duplicates p_full: "
            + ("yes" if p_full else "no (every run is a full pass: the incremental figures are full runs)"),
            flush=True,
        )
        if args.only in (None, "steady"):
            results["steady"] = {str(n): steady(admin, server, n, new_rows, p_full) for n in sizes}
        if args.only in (None, "pipeline"):
            results["pipeline"] = url_pipeline(admin, server, pipeline_letters, p_full)
        if args.only in (None, "urls"):
            results["urls"] = crawled_urls(admin, server, urls, p_full)
        if args.only in (None, "inserts"):
            results["inserts"] = insert_overhead(
                admin, server, 500 if args.quick else 2000, 10_000 if args.quick else 100_000
            )
        if args.only in (None, "history"):
            results["history"] = merge_history(admin, server, args.quick)

    results["targets"] = targets_of(results, sizes)
    print()
    columns = ("what", "ours s", "ours MB", "floor s", "floor MB", "ours/floor", "note")
    print("\n".join(runner.format_table(figure_rows(results), columns)))
    print()
    verdicts = {True: "met", False: "MISSED", None: "n/a"}
    shown = [{**t, "met": verdicts.get(t.get("met"), str(t.get("met")))} for t in results["targets"]]
    print("\n".join(runner.format_table(shown, ("target", "value", "limit", "met"))))
    if not results.get("history", {}).get("measured", True):
        print(f"\nhistory (resolve_id, stale re-point): not measured ({results['history']['why']})")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\n{args.json}")


if __name__ == "__main__":
    main()
