"""Realistic platform data with planted duplicates, generated inside PostgreSQL (demo, tests, benchmarks).

Cover letters are ~1.5 KB of sentences over a Zipf-weighted vocabulary, so unrelated letters share common words
(trigram similarity about 0.3) and boilerplate sentences; job postings have a title, company, location and a short
description. A fraction of rows gets planted duplicates: the same page under a URL variant, or a copy with one to
three words changed (near-duplicate), and a few heavier rewrites that land in the review band.
"""

from __future__ import annotations

import psycopg
import psycopg.sql

VOCABULARY = [
    "i",
    "have",
    "worked",
    "as",
    "a",
    "data",
    "engineer",
    "machine",
    "learning",
    "ml",
    "model",
    "pipeline",
    "production",
    "team",
    "project",
    "experience",
    "years",
    "python",
    "sql",
    "spark",
    "airflow",
    "kubernetes",
    "docker",
    "cloud",
    "aws",
    "gcp",
    "platform",
    "service",
    "api",
    "design",
    "build",
    "deploy",
    "monitor",
    "improve",
    "reduce",
    "cost",
    "latency",
    "quality",
    "customer",
    "product",
    "business",
    "analysis",
    "research",
    "deep",
    "learning",
    "nlp",
    "vision",
    "recommendation",
    "system",
    "real",
    "time",
    "batch",
    "streaming",
    "feature",
    "store",
    "training",
    "inference",
    "evaluation",
    "metric",
    "dashboard",
    "stakeholder",
    "lead",
    "mentor",
    "junior",
    "senior",
    "engineer",
    "scientist",
    "analyst",
    "startup",
    "company",
    "global",
    "scale",
    "million",
    "users",
    "daily",
    "data",
    "warehouse",
    "lake",
    "etl",
    "pipeline",
    "orchestration",
    "testing",
    "reliability",
    "on",
    "call",
    "incident",
    "review",
    "documentation",
    "open",
    "source",
    "contribute",
    "passion",
    "motivated",
    "learn",
    "fast",
    "collaborate",
    "communicate",
    "cross",
    "functional",
    "agile",
    "scrum",
    "sprint",
    "deliver",
    "impact",
    "growth",
    "korea",
    "seoul",
    "busan",
    "remote",
    "hybrid",
    "office",
    "role",
    "position",
    "opportunity",
    "apply",
    "excited",
    "join",
    "mission",
    "culture",
    "values",
]

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
# The common words first (most frequent under the Zipf-like draw), then 4,000 rarer synthetic ones.
VOCABULARY = VOCABULARY + [
    SYLLABLES[(i * 7) % 90] + SYLLABLES[(i * 13 + 5) % 90] + ("" if i % 3 else SYLLABLES[(i * 29 + 11) % 90])
    for i in range(4000)
]

BOILERPLATE = [
    "I am writing to apply for the position advertised on your careers page.",
    "Thank you for taking the time to consider my application.",
    "I look forward to hearing from you.",
    "Please find my resume attached for your review.",
]

SETUP = """
CREATE OR REPLACE FUNCTION pg_temp.datagen_sentence(p_seed double precision) RETURNS text
LANGUAGE sql VOLATILE AS $f$
    -- Zipf-like: low word numbers are much more frequent
    SELECT initcap(string_agg(
        (%(words)s::text[])[1 + floor(power(random(), 1.6) * %(nwords)s)::int], ' ' ORDER BY g.i)) || '.'
    FROM generate_series(1, 8 + (p_seed * 1000)::int %% 10) AS g (i)
$f$;
CREATE OR REPLACE FUNCTION pg_temp.datagen_letter(p_sentences int) RETURNS text
LANGUAGE sql VOLATILE AS $f$
    SELECT CASE WHEN random() < 0.5 THEN %(open)s || ' ' ELSE '' END
        || string_agg(pg_temp.datagen_sentence(random()), ' ')
        || CASE WHEN random() < 0.5 THEN ' ' || %(close)s ELSE '' END
    FROM generate_series(1, p_sentences)
$f$;
-- some words of a text replaced by common words
CREATE OR REPLACE FUNCTION pg_temp.datagen_edit(p_text text, p_words int) RETURNS text
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    v_words text[] := string_to_array(p_text, ' ');
BEGIN
    FOR i IN 1..p_words LOOP
        v_words[1 + floor(random() * cardinality(v_words))::int] :=
            (%(words)s::text[])[1 + floor(random() * 60)::int];
    END LOOP;
    RETURN array_to_string(v_words, ' ');
END
$f$;
"""

GENERATE = """
SELECT setseed(%(seed)s);

INSERT INTO mlops.job_postings (url, title, company, location, description)
SELECT 'https://jobs.example.com/postings/' || g,
       initcap(pg_temp.datagen_sentence(random())),
       'Company ' || (1 + floor(random() * 2000)::int),
       (ARRAY['Seoul', 'Busan', 'Remote', 'Incheon', 'Daejeon'])[1 + floor(random() * 5)::int],
       pg_temp.datagen_letter(3)
FROM generate_series(1, %(postings)s) AS g;

INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT 'https://letters.example.com/samples/' || g,
       'Cover letter ' || g,
       CASE WHEN random() < 0.8 THEN 'Company ' || (1 + floor(random() * 2000)::int) END,
       CASE WHEN random() < 0.8
            THEN (ARRAY['ML Engineer', 'Data Engineer', 'Data Scientist'])[1 + floor(random() * 3)::int] END,
       pg_temp.datagen_letter(14)
FROM generate_series(1, %(letters)s) AS g;

-- Planted duplicates of a fraction of the originals: URL variants (exact key), copies with one to three words
-- changed (near-duplicates), and heavier rewrites (review band). A copy keeps its original's title, and its URL
-- says what kind of copy it is; planted_pairs records (target, original, copy, kind).
WITH picked AS (
    SELECT l.*, random() AS r FROM mlops.cover_letter_samples AS l
    WHERE l.id <= %(letters_max)s AND random() < %(dup_fraction)s
)
INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT CASE WHEN p.r < 0.4 THEN p.url || '?utm_source=crawler&ref=feed'
            WHEN p.r < 0.9 THEN p.url || '/copy-near' ELSE p.url || '/copy-rewrite' END,
       p.title, NULL, p.position,
       CASE WHEN p.r < 0.4 THEN p.content
            WHEN p.r < 0.9 THEN pg_temp.datagen_edit(p.content, 1 + floor(random() * 3)::int)
            ELSE pg_temp.datagen_edit(p.content, 70) END
FROM picked AS p
ORDER BY p.id;

WITH picked AS (
    SELECT j.*, random() AS r FROM mlops.job_postings AS j
    WHERE j.id <= %(postings_max)s AND random() < %(dup_fraction)s
)
INSERT INTO mlops.job_postings (url, title, company, location, description)
SELECT CASE WHEN p.r < 0.5 THEN replace(p.url, 'https://', 'https://www.') || '/?utm_medium=feed'
            ELSE p.url || '-repost' END,
       p.title, p.company, p.location,
       CASE WHEN p.r < 0.5 THEN p.description ELSE pg_temp.datagen_edit(p.description, 1) END
FROM picked AS p
ORDER BY p.id;

CREATE TEMP TABLE IF NOT EXISTS planted_pairs (target text, original bigint, copy bigint, kind text);
INSERT INTO planted_pairs
SELECT 'mlops.cover_letter_samples', o.id, c.id,
       CASE WHEN c.url LIKE '%%utm_source%%' THEN 'url' WHEN c.url LIKE '%%/copy-near' THEN 'near' ELSE 'rewrite' END
FROM mlops.cover_letter_samples AS c
INNER JOIN mlops.cover_letter_samples AS o ON o.title = c.title AND o.id <= %(letters_max)s
WHERE c.id > %(letters_max)s
UNION ALL
SELECT 'mlops.job_postings', o.id, c.id, CASE WHEN c.url LIKE '%%utm_medium%%' THEN 'url' ELSE 'near' END
FROM mlops.job_postings AS c
INNER JOIN mlops.job_postings AS o ON o.title = c.title AND o.company = c.company AND o.id <= %(postings_max)s
WHERE c.id > %(postings_max)s;

-- Recommendations (every letter for a few jobs; copies collide with their originals) and interactions.
INSERT INTO mlops.job_recommendations (resume_id, job_id, score)
SELECT l.id, j.job_id, round(random()::numeric, 3)
FROM mlops.cover_letter_samples AS l
CROSS JOIN LATERAL (
    -- a copy shares two of its original's jobs (collisions once merged) and has one of its own
    SELECT DISTINCT
        1 + ((CASE WHEN k < 2 THEN coalesce(pp.original, l.id) ELSE l.id END * 37 + k * 11) %% %(postings)s) AS job_id
    FROM generate_series(0, 2) AS k
    LEFT JOIN planted_pairs AS pp ON pp.target = 'mlops.cover_letter_samples' AND pp.copy = l.id
) AS j
ON CONFLICT DO NOTHING;

INSERT INTO mlops.user_interactions (user_id, job_id, recommendation_id, interaction_type)
SELECT 1 + floor(random() * 5000)::int, r.job_id, r.id,
       (ARRAY['view', 'click', 'apply', 'save'])[1 + floor(random() * 4)::int]
FROM mlops.job_recommendations AS r
WHERE random() < 0.3;

ANALYZE mlops.job_postings, mlops.cover_letter_samples, mlops.job_recommendations, mlops.user_interactions;
"""


def generate(
    conn: psycopg.Connection, *, postings: int, letters: int, dup_fraction: float = 0.1, seed: float = 0.42
) -> dict[str, int]:
    """Insert generated platform data with planted duplicates; returns row counts per table and planted pairs."""
    params = {"words": VOCABULARY, "nwords": len(VOCABULARY), "open": BOILERPLATE[0], "close": BOILERPLATE[1]}
    conn.execute(_inline(SETUP, params))
    with conn.transaction():
        conn.execute(
            _inline(
                GENERATE,
                {
                    "seed": seed,
                    "postings": postings,
                    "letters": letters,
                    "dup_fraction": dup_fraction,
                    "letters_max": letters,
                    "postings_max": postings,
                },
            )
        )
    tables = ("job_postings", "cover_letter_samples", "job_recommendations", "user_interactions")
    counts = {t: conn.execute(f"SELECT count(*) FROM mlops.{t}").fetchone()[0] for t in tables}
    counts["planted_pairs"] = conn.execute("SELECT count(*) FROM planted_pairs").fetchone()[0]
    return counts


def _inline(template: str, params: dict[str, object]) -> str:
    """Fill %(name)s with SQL literals (psycopg quoting); several statements cannot take bound parameters."""
    literals = {k: psycopg.sql.Literal(v).as_string(None) for k, v in params.items()}
    return template % literals
