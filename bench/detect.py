#!/usr/bin/env python3
"""Detection benchmark: mlops.dedup_detect on generated data with planted duplicates, against the pg_trgm self-join.

    python bench/detect.py                          # everything below at the default sizes (~15 min before the
                                                    # Korean and names parts, which were run at <= 20k rows only)
    python bench/detect.py --only letters --letters 10000
    python bench/detect.py --only korean --korean 20000   # Korean letters, LC_CTYPE C and C.UTF-8, vs Latin
    python bench/detect.py --only names --names 10000     # short names: candidate recall vs a similarity join

Reports rows/s, recall of planted duplicate pairs at the rule threshold, backend peak memory, the 10k -> 100k
scaling ratio, the exact pass on URLs, and the GIN self-join (a.txt % b.txt) on the same rows at a size where it
finishes, with its time, our time and our recall of its pairs.

Korean cover letters (datagen.generate_korean) run the same rule in a database created with LC_CTYPE 'C' and in one
with C.UTF-8 (pg_trgm sees no letters in Hangul under 'C'), each beside the Latin letters of the same size in that
locale. The planted pairs that count are those at the threshold by similarity in the C.UTF-8 database (or with the
same URL): the same rows in both, the seed being the same.

Short names (datagen.generate_names: band, artist, company names, Latin and Korean, with planted one-character
typos, punctuation, case and spacing variants) under a rule on t.name at 0.7 / 0.5, in C.UTF-8: the candidate step's
recall against a similarity join (every row within review_threshold of a random sample of probe rows, by a GIN
trigram index and %), and per kind of planted variant.

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

import runner
from mlops_dedup import datagen

LETTERS = "mlops.cover_letter_samples"
POSTINGS = "mlops.job_postings"
NAMES = "public.short_names"
# the locales the Korean letters run in (C.UTF-8: `locale -a` lists C.utf8; glibc takes either spelling)
KOREAN_LOCALES = ("C.UTF-8", "C")


def locale_database(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, name: str, locale: str) -> str:
    """platform_database created from template0 with LC_CTYPE and LC_COLLATE locale and encoding UTF8."""
    options = f"TEMPLATE template0 LC_CTYPE '{locale}' LC_COLLATE '{locale}' ENCODING 'UTF8'"  # our constants
    return platform_database(admin, server, name, options)


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


def thresholds(conn: psycopg.Connection, target: str) -> tuple[float, float]:
    """The rule's threshold and review_threshold."""
    return conn.execute(
        "SELECT threshold, review_threshold FROM mlops.dedup_rules WHERE target = %s::regclass", (target,)
    ).fetchone()


def planted_truth(conn: psycopg.Connection, target: str, text_sql: str) -> list[tuple[int, int, str, float]]:
    """The planted pairs at or above review_threshold here by similarity (a pair with the same URL scores 1)."""
    _threshold, review = thresholds(conn, target)
    trgm = trgm_schema(conn)
    return conn.execute(
        f"""
        SELECT p.original, p.copy, p.kind, s.score
        FROM planted_pairs AS p
        JOIN {target} AS o ON o.id = p.original JOIN {target} AS c ON c.id = p.copy
        CROSS JOIN LATERAL (SELECT CASE WHEN mlops.normalize_url(o.url) = mlops.normalize_url(c.url) THEN 1
            ELSE {trgm}.similarity({text_sql.replace("t.", "o.")}, {text_sql.replace("t.", "c.")}) END AS score) AS s
        WHERE p.target = %(target)s AND s.score >= %(r)s
        ORDER BY 1, 2
        """,
        {"r": review, "target": target},
    ).fetchall()


def truth_recall(conn: psycopg.Connection, target: str, truth: list[tuple[int, int, str, float]]) -> dict:
    """Share of the given planted pairs detection found: those at the threshold with a score at the threshold (in
    all, as planted_recall, and per kind of copy), those in the review band with any score (review_band)."""
    threshold, _review = thresholds(conn, target)
    rows = conn.execute(
        """
        SELECT k.kind, k.truth >= %(t)s AS strong, count(*), count(*) FILTER (WHERE EXISTS (
                   SELECT FROM pg_temp.mlops_dedup_edges AS e WHERE e.a = k.original AND e.b = k.copy
                   AND (e.score >= %(t)s OR k.truth < %(t)s)))
        FROM unnest(%(o)s::bigint[], %(c)s::bigint[], %(k)s::text[], %(s)s::real[]) AS k (original, copy, kind, truth)
        GROUP BY 1, 2 ORDER BY 1, 2
        """,
        {
            "t": threshold,
            "o": [t[0] for t in truth],
            "c": [t[1] for t in truth],
            "k": [t[2] for t in truth],
            "s": [t[3] for t in truth],
        },
    ).fetchall()
    strong = [(kind, total, found) for kind, is_strong, total, found in rows if is_strong]
    total, found = sum(r[1] for r in strong), sum(r[2] for r in strong)
    band = [(total, found) for _kind, is_strong, total, found in rows if not is_strong]
    return {
        "planted_pairs_at_threshold": total,
        "recall": round(found / total, 4) if total else None,
        "recall_by_kind": {kind: f"{f}/{n}" for kind, n, f in strong},
        "review_band": f"{sum(r[1] for r in band)}/{sum(r[0] for r in band)} found",
    }


def unplanted_members(conn: psycopg.Connection, target: str) -> int:
    """Rows detection would merge into a row that is not their planted original or copy (false merges)."""
    return conn.execute(
        """
        SELECT count(*) FROM pg_temp.mlops_dedup_members AS m
        WHERE NOT EXISTS (
            SELECT FROM planted_pairs AS p
            WHERE p.target = %s AND least(p.original, p.copy) = least(m.survivor_id, m.member_id)
              AND greatest(p.original, p.copy) = greatest(m.survivor_id, m.member_id))
        """,
        (target,),
    ).fetchone()[0]


def korean(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, letters: int) -> dict[str, dict]:
    """Korean letters with the cover-letter rule per locale, beside the Latin letters of the same size there."""
    results: dict[str, dict] = {}
    truth: list[tuple[int, int, str, float]] | None = None
    fingerprint = None
    for locale in KOREAN_LOCALES:
        with psycopg.connect(locale_database(admin, server, "bench_detect", locale), autocommit=True) as conn:
            datagen.generate_korean(conn, letters=letters, dup_fraction=0.1)
            (same_rows,) = conn.execute(
                "SELECT md5(string_agg(content, E'\\n' ORDER BY id)) FROM mlops.cover_letter_samples"
            ).fetchone()
            fingerprint = fingerprint or same_rows
            (bytes_avg, chars_avg) = conn.execute(
                "SELECT round(avg(octet_length(content))), round(avg(length(content))) FROM mlops.cover_letter_samples"
            ).fetchone()
            value = {"locale": locale, "same_rows_as_first_locale": same_rows == fingerprint}
            value.update(detect(conn, LETTERS))
            if truth is None:  # the first locale is C.UTF-8: similarity there is the truth for both
                truth = planted_truth(conn, LETTERS, "t.content")
            value.update(truth_recall(conn, LETTERS, truth))
            value["planted_recall_by_this_locale_similarity"] = planted_recall(conn, LETTERS, "t.content")
            value["unplanted_members"] = unplanted_members(conn, LETTERS)
            value["avg_bytes"], value["avg_chars"] = int(bytes_avg), int(chars_avg)
        with psycopg.connect(locale_database(admin, server, "bench_detect", locale), autocommit=True) as conn:
            datagen.generate(conn, postings=1000, letters=letters, dup_fraction=0.1)
            latin = detect(conn, LETTERS)
            latin.update(planted_recall(conn, LETTERS, "t.content"))
        value["latin"] = {k: latin[k] for k in ("rows", "seconds", "candidate_pairs", "members", "recall")}
        value["time_ratio_to_latin"] = round(value["seconds"] / latin["seconds"], 2)
        results[f"korean_{letters}_{locale}"] = value
    return results


def names(admin: psycopg.Connection, server: runner.EmbeddedPostgresql, rows: int, probes: int) -> dict:
    """Short names under a rule on t.name (0.7 / 0.5) in C.UTF-8: detection, then its recall of a similarity join."""
    with psycopg.connect(locale_database(admin, server, "bench_detect", "C.UTF-8"), autocommit=True) as conn:
        datagen.generate_names(conn, NAMES, rows=rows)
        conn.execute(
            "INSERT INTO mlops.dedup_rules (target, similar_text, threshold, review_threshold)"
            " VALUES (%s::regclass, 't.name', 0.7, 0.5)",
            (NAMES,),
        )
        value = detect(conn, NAMES)
        value.update(join_recall(conn, NAMES, probes))
        value["planted"] = planted_name_recall(conn, NAMES)
    return value


def join_recall(conn: psycopg.Connection, target: str, probes: int) -> dict:
    """Ground truth: for a random sample of probe rows, every other row with similarity >= review_threshold (GIN
    trigram index, % at pg_trgm.similarity_threshold); recall = share of those pairs among detection's edges."""
    threshold, review = thresholds(conn, target)
    trgm = trgm_schema(conn)
    conn.execute("SELECT setseed(0.5)")
    conn.execute(
        f"CREATE TEMP TABLE name_probes AS SELECT t.id, t.name FROM {target} AS t ORDER BY random() LIMIT {int(probes)}"
    )
    conn.execute(f"CREATE INDEX short_names_name_trgm_idx ON {target} USING gin (name {trgm}.gin_trgm_ops)")
    conn.execute(f"ANALYZE {target}, name_probes")
    conn.execute("SELECT set_config('pg_trgm.similarity_threshold', %s, false)", (str(review),))
    started = time.perf_counter()
    conn.execute(
        f"CREATE TEMP TABLE name_truth AS SELECT p.id AS a, t.id AS b, {trgm}.similarity(p.name, t.name) AS score"
        f" FROM name_probes AS p JOIN {target} AS t ON t.name OPERATOR({trgm}.%) p.name AND t.id <> p.id"
    )
    seconds = time.perf_counter() - started
    pairs, found, strong, strong_found, planted, planted_found, with_pairs = conn.execute(
        """
        SELECT count(*), count(*) FILTER (WHERE x.found), count(*) FILTER (WHERE x.score >= %s),
               count(*) FILTER (WHERE x.score >= %s AND x.found), count(*) FILTER (WHERE x.planted),
               count(*) FILTER (WHERE x.planted AND x.found), count(DISTINCT x.a)
        FROM (SELECT n.*, EXISTS (SELECT FROM pg_temp.mlops_dedup_edges AS e WHERE e.a = n.a AND e.b = n.b) AS found,
                     EXISTS (SELECT FROM planted_names AS p
                             WHERE least(p.original, p.copy) = least(n.a, n.b)
                               AND greatest(p.original, p.copy) = greatest(n.a, n.b)) AS planted
              FROM name_truth AS n) AS x
        """,
        (threshold, threshold),
    ).fetchone()
    conn.execute("DROP TABLE name_truth, name_probes")
    return {
        "probes": probes,
        "probes_with_pairs": with_pairs,
        "join_seconds": round(seconds, 2),
        "truth_pairs": pairs,
        "recall": round(found / pairs, 4) if pairs else None,
        "truth_pairs_at_threshold": strong,
        "recall_at_threshold": round(strong_found / strong, 4) if strong else None,
        "truth_pairs_planted": planted,
        "recall_planted": round(planted_found / planted, 4) if planted else None,
        "recall_not_planted": round((found - planted_found) / (pairs - planted), 4) if pairs > planted else None,
    }


def planted_name_recall(conn: psycopg.Connection, target: str) -> dict[str, str]:
    """Per script and kind of planted variant: found / planted pairs with similarity >= review_threshold (and how
    many were planted)."""
    _threshold, review = thresholds(conn, target)
    trgm = trgm_schema(conn)
    rows = conn.execute(
        f"""
        SELECT p.script || ' ' || p.kind, count(*), count(*) FILTER (WHERE s.score >= %(r)s),
               count(*) FILTER (WHERE s.score >= %(r)s AND EXISTS (
                   SELECT FROM pg_temp.mlops_dedup_edges AS e WHERE e.a = p.original AND e.b = p.copy))
        FROM planted_names AS p
        JOIN {target} AS o ON o.id = p.original JOIN {target} AS c ON c.id = p.copy
        CROSS JOIN LATERAL (SELECT {trgm}.similarity(o.name, c.name) AS score) AS s
        GROUP BY 1 ORDER BY 1
        """,
        {"r": review},
    ).fetchall()
    return {kind: f"{found}/{at_review} (planted {total})" for kind, total, at_review, found in rows}


def create_crawled_urls(conn: psycopg.Connection, urls: int, every: int = 10) -> None:
    """public.crawled_urls (id, url) under an exact-key-only rule on mlops.normalize_url(t.url): `urls` rows, one in
    `every` a tracking or www./slash variant of the row before it."""
    conn.execute(
        "CREATE TABLE public.crawled_urls (id bigint PRIMARY KEY, url text NOT NULL);"
        f"INSERT INTO public.crawled_urls SELECT i, CASE WHEN i % {int(every)} = 0"
        "   THEN 'https://www.jobs.example.com/postings/' || (i - 1) || '/?utm_source=feed&b=2&a=1'"
        "   ELSE 'https://jobs.example.com/postings/' || i || '?a=1&b=2' END"
        f" FROM generate_series(1, {int(urls)}) AS i;"
        "ANALYZE public.crawled_urls;"
        "INSERT INTO mlops.dedup_rules (target, exact_key, keep_order)"
        " VALUES ('public.crawled_urls', 'mlops.normalize_url(t.url)', 't.id')"
    )


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
    parser.add_argument("--korean", type=int, default=100_000, help="Korean letters (and Latin ones beside them)")
    parser.add_argument("--names", type=int, default=100_000)
    parser.add_argument("--names-small", type=int, default=10_000, help="the smaller size of the names scaling")
    parser.add_argument("--name-probes", type=int, default=2_000, help="probe rows of the names similarity join")
    parser.add_argument("--only", choices=["letters", "postings", "urls", "selfjoin", "korean", "names"])
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
                create_crawled_urls(conn, args.urls)
                value = detect(conn, "public.crawled_urls")
                value["expected_members"] = args.urls // 10
                step(f"urls_{args.urls}", value)
        if args.only in (None, "selfjoin"):
            with psycopg.connect(platform_database(admin, server, "bench_detect"), autocommit=True) as conn:
                datagen.generate(conn, postings=args.selfjoin_postings, letters=args.selfjoin_letters, dup_fraction=0.1)
                step(f"selfjoin_letters_{args.selfjoin_letters}", self_join(conn, LETTERS, "t.content"))
                step(f"selfjoin_postings_{args.selfjoin_postings}", self_join(conn, POSTINGS, POSTING_TEXT))
        if args.only in (None, "korean"):
            for name, value in korean(admin, server, args.korean).items():
                step(name, value)
        if args.only in (None, "names"):
            sizes = sorted({args.names_small, args.names})
            for n in sizes:
                step(f"names_{n}", names(admin, server, n, args.name_probes))
            if len(sizes) > 1:
                small, big = results[f"names_{sizes[0]}"], results[f"names_{sizes[-1]}"]
                step(
                    "names_scaling",
                    {
                        "ratio": round(big["seconds"] / small["seconds"], 2),
                        "rows_ratio": round(big["rows"] / small["rows"], 2),
                    },
                )
        admin.execute("DROP DATABASE IF EXISTS bench_detect")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
