"""A run's cost does not grow with the merge history (issue 11): resolve_id, merge chains and the stale re-point read
the merge log through mlops.merge_losers, one probe per key, and the stale re-point looks only at references to
soft-deleted rows. History independence is asserted on shared buffers touched (EXPLAIN (ANALYZE, BUFFERS)), never on
wall-clock times."""

from __future__ import annotations

import json

import psycopg

import runner

LETTERS = "mlops.cover_letter_samples"

# Synthetic merges logged directly (as a long history would have left them): merge i took key 10^7 + 2i into
# 10^7 + 2i - 1 of the letters, every tenth one of the job postings instead. Their rows do not exist.
SYNTHETIC_MERGES = """
INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, survivor_id, loser_ids, reason, soft_deleted)
SELECT CASE WHEN i %% 10 = 0 THEN 'mlops.job_postings' ELSE 'mlops.cover_letter_samples' END::regclass, 'int4'::regtype,
    (10000000 + 2 * i - 1)::text, ARRAY[(10000000 + 2 * i)::text], 10000000 + 2 * i - 1, ARRAY[10000000 + 2 * i],
    'synthetic', false
FROM generate_series(%(first)s::int, %(last)s::int) AS i
"""


def log_synthetic_merges(conn: psycopg.Connection, first: int, last: int) -> None:
    conn.execute(SYNTHETIC_MERGES, {"first": first, "last": last})
    conn.execute("VACUUM ANALYZE mlops.merges, mlops.merge_losers")


def shared_buffers(conn: psycopg.Connection, sql: str, params: tuple = ()) -> int:
    """Shared buffers the statement touched (hit + read), nested statements of the routines it calls included."""
    plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    top = plan[0]["Plan"]
    return top["Shared Hit Blocks"] + top["Shared Read Blocks"]


def load_letters(conn: psycopg.Connection, pairs: int) -> None:
    """Letters 2g-1 and 2g are duplicates; each letter is recommended for one job."""
    conn.execute(
        "INSERT INTO mlops.job_postings (id, url, title)"
        " SELECT j, 'https://jobs.example.com/' || j, 'job ' || j FROM generate_series(1, 500) AS j"
    )
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, title, content)"
        " SELECT i, 'https://letters.example.com/' || i, 'letter', 'text ' || i FROM generate_series(1, %s) AS i",
        (2 * pairs,),
    )
    conn.execute(
        "INSERT INTO mlops.job_recommendations (resume_id, job_id, score)"
        " SELECT i, 1 + i %% 500, 0.5 FROM generate_series(1, %s) AS i",
        (2 * pairs,),
    )
    conn.execute("SELECT setval(pg_get_serial_sequence('mlops.job_postings', 'id'), 500)")
    conn.execute("SELECT setval(pg_get_serial_sequence('mlops.cover_letter_samples', 'id'), %s)", (2 * pairs,))


def soft_merge_pairs(conn: psycopg.Connection, first: int, last: int) -> None:
    """Merges letter 2g into 2g-1 for g in [first, last], soft-deleting the losers."""
    conn.execute(
        f"SELECT mlops.merge_clusters('{LETTERS}', ARRAY(SELECT 2 * g - 1 FROM generate_series(%s::int, %s::int) AS g),"
        " ARRAY(SELECT 2 * g FROM generate_series(%s::int, %s::int) AS g), 'test', NULL, NULL, true)",
        (first, last, first, last),
    )


def test_resolve_id_follows_a_chain_and_skips_undone_merges_in_a_large_log(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE"
        " VALUES (1, 'a', 'x'), (2, 'b', 'x'), (3, 'c', 'x'), (4, 'd', 'x')"
    )
    log_synthetic_merges(conn, 1, 100_000)
    conn.execute(f"SELECT mlops.merge_rows('{LETTERS}', 2, ARRAY[3]::bigint[])")
    conn.execute(f"SELECT mlops.merge_rows('{LETTERS}', 1, ARRAY[2]::bigint[])")
    undone = conn.execute(f"SELECT mlops.merge_rows('{LETTERS}', 4, ARRAY[1]::bigint[])").fetchone()[0]
    conn.execute("SELECT mlops.unmerge(%s)", (undone,))

    resolved = conn.execute(
        f"SELECT mlops.resolve_id('{LETTERS}', 3), mlops.resolve_id('{LETTERS}', 2), mlops.resolve_id('{LETTERS}', 1),"
        f" mlops.resolve_id('{LETTERS}', 10000002), mlops.resolve_id('mlops.job_postings', 10000020)"
    ).fetchone()

    # 3 -> 2 -> 1; the undone 1 -> 4 is not followed; synthetic survivors that do not exist resolve to NULL
    assert resolved == (1, 1, 1, None, None)
    assert (
        conn.execute(
            "SELECT count(*) FROM mlops.merge_losers AS l INNER JOIN mlops.merges AS m USING (merge_id)"
            " WHERE l.loser_key = ANY (m.loser_keys) AND l.target = m.target"
        ).fetchone()[0]
        == conn.execute("SELECT sum(cardinality(loser_keys)) FROM mlops.merges").fetchone()[0]
    )


def test_resolve_id_touches_as_many_buffers_at_100k_logged_merges_as_at_1k(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE VALUES (1, 'a', 'x')"
    )
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE"
        " VALUES (10000001, 'b', 'x'), (10001001, 'c', 'x')"
    )
    log_synthetic_merges(conn, 1, 1_000)
    call = f"SELECT mlops.resolve_id('{LETTERS}', %s)"
    shared_buffers(conn, call, (10000002,))  # caches warm
    at_1k = shared_buffers(conn, call, (10000002,))

    log_synthetic_merges(conn, 1_001, 100_000)
    shared_buffers(conn, call, (10001002,))
    at_100k = shared_buffers(conn, call, (10001002,))

    assert conn.execute(call, (10001002,)).fetchone()[0] == 10001001
    # one more btree level at most, not a scan of the log
    assert at_100k <= at_1k + 8, (at_1k, at_100k)


def test_stale_repoint_moves_a_new_reference_to_the_chain_end_in_a_large_history(conn: psycopg.Connection) -> None:
    load_letters(conn, 2_000)
    log_synthetic_merges(conn, 1, 50_000)
    soft_merge_pairs(conn, 1, 2_000)  # 2g -> 2g-1
    # 1 merged on into 3 since: a reference to 2 ends at 3
    conn.execute(f"SELECT mlops.merge_clusters('{LETTERS}', ARRAY[3], ARRAY[1], 'test', NULL, NULL, true)")
    took = dict(
        conn.execute(
            "SELECT m.loser_keys[1], m.merge_id FROM mlops.merges AS m"
            " WHERE m.target = %s::regclass AND m.loser_keys && ARRAY['2', '40']",
            (LETTERS,),
        ).fetchall()
    )
    conn.execute(
        "INSERT INTO mlops.job_recommendations (id, resume_id, job_id, score) OVERRIDING SYSTEM VALUE"
        " VALUES (900001, 2, 7, 0.1), (900002, 40, 9, 0.1)"
    )

    moved = conn.execute(f"SELECT mlops.merge_repoint_stale('{LETTERS}')").fetchone()[0]

    assert moved == 2
    assert conn.execute(
        "SELECT array_agg(resume_id ORDER BY id) FROM mlops.job_recommendations WHERE id IN (900001, 900002)"
    ).fetchone()[0] == [3, 39]
    # logged under the merge that soft-deleted each row, so undoing that merge points them back
    assert conn.execute(
        "SELECT array_agg(mv.merge_id ORDER BY mv.loser_key::int) FROM mlops.merge_moves AS mv"
        " WHERE mv.row_key ->> 'id' IN ('900001', '900002')"
    ).fetchone()[0] == [took["2"], took["40"]]


def test_stale_repoint_with_nothing_to_move_touches_the_same_buffers_at_1k_and_30k_merged_rows(
    conn: psycopg.Connection,
) -> None:
    load_letters(conn, 30_000)
    stale = f"SELECT mlops.merge_repoint_stale('{LETTERS}')"
    floor = (
        "SELECT s.id FROM mlops.cover_letter_samples AS s INNER JOIN mlops.job_recommendations AS r"
        " ON r.resume_id = s.id WHERE s.merged_into IS NOT NULL AND s.deleted_at IS NOT NULL"
    )

    def measure() -> tuple[int, int]:
        # the same pages in both states: the letters and recommendations rewritten compactly
        conn.execute(f"VACUUM FULL {LETTERS}")
        conn.execute("VACUUM FULL mlops.job_recommendations")
        conn.execute(f"ANALYZE {LETTERS}, mlops.job_recommendations")
        assert conn.execute(stale).fetchone()[0] == 0
        return shared_buffers(conn, stale), shared_buffers(conn, floor)

    soft_merge_pairs(conn, 1, 1_000)
    at_1k, floor_1k = measure()
    soft_merge_pairs(conn, 1_001, 30_000)
    at_30k, floor_30k = measure()

    assert conn.execute("SELECT count(*) FROM mlops.merges").fetchone()[0] == 30_000
    # the hand-written join's pages plus a constant, with 30 times the merged rows
    assert abs((at_30k - floor_30k) - (at_1k - floor_1k)) <= 20, (
        at_1k,
        floor_1k,
        at_30k,
        floor_30k,
    )
    assert at_30k <= 1.25 * at_1k, (at_1k, at_30k)


def test_migration_indexes_the_merges_logged_before_it(platform_dsn: str) -> None:
    runner.install(platform_dsn, up_to=12)
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, reason, soft_deleted)"
            " VALUES ('mlops.cover_letter_samples', 'int4', '1', ARRAY['2', '3'], 'old', false),"
            " ('mlops.job_postings', 'int4', '5', ARRAY['2'], 'old', false)"
        )
    runner.install(platform_dsn)
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, reason, soft_deleted)"
            " VALUES ('mlops.job_postings', 'int4', '5', ARRAY['7'], 'new', false)"
        )
        indexed = conn.execute(
            "SELECT array_agg(format('%s %s %s', l.target, l.loser_key, m.reason) ORDER BY l.merge_id, l.loser_key)"
            " FROM mlops.merge_losers AS l INNER JOIN mlops.merges AS m USING (merge_id)"
        ).fetchone()[0]

    assert indexed == [
        "mlops.cover_letter_samples 2 old",
        "mlops.cover_letter_samples 3 old",
        "mlops.job_postings 2 old",
        "mlops.job_postings 7 new",
    ]
