"""Detection and batch merging: rules, find_duplicates, CALL merge_duplicates, review queue, runs, quality."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from helpers import snapshot

from mlops_dedup import datagen

LETTERS = "mlops.cover_letter_samples"


def members(conn: psycopg.Connection, target: str) -> list[tuple]:
    return conn.execute(
        "SELECT survivor_id, member_id, reason FROM mlops.find_duplicates(%s) ORDER BY member_id", (target,)
    ).fetchall()


def add_letters(conn: psycopg.Connection, rows: list[tuple[int, str | None, str]]) -> None:
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE"
        " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )


LETTER = (
    "I have built machine learning pipelines for three years. I deployed models to production at a startup. "
    "I mentored two junior engineers and wrote our on-call runbook. I want to join a team that ships every week."
)


def test_exact_url_variants_and_near_duplicate_letters_merge_automatically(conn: psycopg.Connection) -> None:
    add_letters(
        conn,
        [
            (1, "https://l.example.com/a", LETTER),
            (2, "https://www.l.example.com/a/?utm_source=feed", LETTER.replace(". ", ".  ")),
            (3, "https://l.example.com/b", LETTER.replace("three years", "four years")),
            (4, "https://l.example.com/c", "Unrelated text about cooking pasta and baking bread at home."),
        ],
    )
    assert members(conn, LETTERS) == [(1, 2, "exact_key"), (1, 3, "similar_text")]


def test_star_clustering_never_chains(conn: psycopg.Connection) -> None:
    # A~B and B~C at the threshold, A and C not: with A first in keep_order, A takes B and C stays alone.
    a = "alpha bravo charlie delta echo foxtrot golf hotel india juliet"
    b = "alpha bravo charlie delta echo foxtrot golf hotel kilo lima"
    c = "alpha bravo charlie delta echo foxtrot mike november kilo lima"
    ab, bc, ac = conn.execute(
        "SELECT similarity(%s, %s), similarity(%s, %s), similarity(%s, %s)", (a, b, b, c, a, c)
    ).fetchone()
    threshold = round((max(ac, 0) + min(ab, bc)) / 2, 3)
    assert ac < threshold <= min(ab, bc)  # the premise
    add_letters(conn, [(1, None, a), (2, None, b), (3, None, c)])
    conn.execute(
        "UPDATE mlops.dedup_rules SET threshold = %s, review_threshold = %s, keep_order = 't.id'"
        " WHERE target = %s::regclass",
        (threshold, threshold, LETTERS),
    )
    assert members(conn, LETTERS) == [(1, 2, "similar_text")]


def test_soft_deleted_rows_are_not_detected_again(conn: psycopg.Connection) -> None:
    add_letters(conn, [(1, "https://x.example.com/1", "a"), (2, "https://x.example.com/1/", "a")])
    conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    assert conn.execute("SELECT merged_into FROM mlops.cover_letter_samples WHERE id = 2").fetchone() == (1,)
    assert members(conn, LETTERS) == []


def test_dry_run_changes_nothing_but_records_the_run(conn: psycopg.Connection) -> None:
    datagen.generate(conn, postings=60, letters=80, dup_fraction=0.3)
    tables = (
        "mlops.cover_letter_samples",
        "mlops.job_postings",
        "mlops.job_recommendations",
        "mlops.user_interactions",
    )
    before = snapshot(conn, tables), conn.execute("SELECT count(*) FROM mlops.merges").fetchone()
    conn.execute("CALL mlops.merge_duplicates(p_dry_run => true)")
    assert (snapshot(conn, tables), conn.execute("SELECT count(*) FROM mlops.merges").fetchone()) == before
    runs = conn.execute(
        "SELECT target::text, dry_run, status, rows_merged > 0 FROM mlops.dedup_runs ORDER BY 1"
    ).fetchall()
    assert runs == [
        ("mlops.cover_letter_samples", True, "succeeded", True),
        ("mlops.job_postings", True, "succeeded", True),
    ]
    assert conn.execute("SELECT count(*) FROM mlops.duplicate_candidates").fetchone() == (0,)


def test_merge_duplicates_merges_what_find_duplicates_previewed(conn: psycopg.Connection) -> None:
    datagen.generate(conn, postings=60, letters=80, dup_fraction=0.3)
    preview = {(s, m) for s, m, _ in members(conn, LETTERS)}
    assert preview
    conn.execute("CALL mlops.merge_duplicates(%s, p_batch_size => 7)", (LETTERS,))
    merged = set(
        conn.execute("SELECT merged_into, id FROM mlops.cover_letter_samples WHERE merged_into IS NOT NULL").fetchall()
    )
    assert merged == preview
    status, rows_merged, clusters, calls, failed = conn.execute(
        "SELECT status, rows_merged, clusters, batches, batches_failed FROM mlops.dedup_runs"
    ).fetchone()
    assert (status, rows_merged, failed) == ("succeeded", len(preview), 0)
    assert calls >= -(-clusters // 7)  # batches of 7 clusters, one merge call per kind of evidence
    dangling = conn.execute(
        "SELECT count(*) FROM mlops.job_recommendations AS r"
        " JOIN mlops.cover_letter_samples AS l ON l.id = r.resume_id WHERE l.merged_into IS NOT NULL"
    ).fetchone()
    assert dangling == (0,)


def test_references_to_merged_rows_inserted_since_are_repointed(conn: psycopg.Connection) -> None:
    add_letters(conn, [(1, "https://x.example.com/1", "a"), (2, "https://x.example.com/1?utm_x=1", "a")])
    conn.execute("INSERT INTO mlops.job_postings (id, url) OVERRIDING SYSTEM VALUE VALUES (1, 'u')")
    conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    conn.execute("INSERT INTO mlops.job_recommendations (resume_id, job_id) VALUES (2, 1)")  # soft-deleted row
    assert conn.execute(
        "SELECT references_to_merged_rows FROM mlops.data_quality WHERE target = %s::regclass", (LETTERS,)
    ).fetchone() == (1,)
    conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    assert conn.execute("SELECT resume_id FROM mlops.job_recommendations").fetchall() == [(1,)]
    assert conn.execute("SELECT references_moved FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1").fetchone() == (1,)


def test_review_band_pairs_are_queued_and_distinct_is_never_proposed_again(conn: psycopg.Connection) -> None:
    base = "one two three four five six seven eight nine ten eleven twelve"
    other = "one two three four five six seven eight zulu yankee xray whiskey"
    (score,) = conn.execute("SELECT similarity(%s, %s)", (base, other)).fetchone()
    conn.execute(
        "UPDATE mlops.dedup_rules SET threshold = %s, review_threshold = %s WHERE target = %s::regclass",
        (min(score + 0.1, 1), score - 0.05, LETTERS),
    )
    add_letters(conn, [(1, None, base), (2, None, other)])
    conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    queued = conn.execute(
        "SELECT candidate_id, left_id, right_id, left_key, right_key, status FROM mlops.duplicate_candidates"
    ).fetchall()
    assert [row[1:] for row in queued] == [(1, 2, "1", "2", "pending")]
    assert conn.execute("SELECT mlops.review_candidate(%s, 'distinct')", (queued[0][0],)).fetchone() == (None,)
    conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    assert conn.execute("SELECT count(*), min(status) FROM mlops.duplicate_candidates").fetchone() == (1, "distinct")
    assert conn.execute("SELECT candidates_queued FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1").fetchone() == (
        0,
    )


def test_review_merge_merges_the_pair_by_keep_order(conn: psycopg.Connection) -> None:
    add_letters(conn, [(1, None, "short"), (2, "https://x.example.com/2", "longer and more complete")])
    conn.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, '1', '2', 0.7)",
        (LETTERS,),
    )
    (merge_id,) = conn.execute(
        "SELECT mlops.review_candidate(candidate_id, 'merge') FROM mlops.duplicate_candidates"
    ).fetchone()
    assert conn.execute(
        "SELECT survivor_id, loser_ids, reason FROM mlops.merges WHERE merge_id = %s", (merge_id,)
    ).fetchone() == (2, [1], "review")
    assert conn.execute("SELECT status FROM mlops.duplicate_candidates").fetchone() == ("merged",)


def test_review_of_a_pair_merged_already_or_gone(conn: psycopg.Connection) -> None:
    """A pair whose rows were merged into one row meanwhile is recorded merged, with a NOTICE; a pair whose row was
    deleted cannot merge (P0002), and the HINT says how to take it off the queue."""
    add_letters(conn, [(1, None, "one"), (2, None, "two"), (3, None, "three"), (4, None, "four")])
    conn.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, '1', '2', 0.7),"
        " (%s, '3', '4', 0.7)",
        (LETTERS, LETTERS),
    )
    conn.execute("SELECT mlops.merge_rows(%s, 1, ARRAY[2]::bigint[])", (LETTERS,))
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    assert conn.execute(
        "SELECT mlops.review_candidate(candidate_id, 'merge') FROM mlops.duplicate_candidates WHERE left_key = '1'"
    ).fetchone() == (None,)
    assert any("were merged into 1 already; recorded as merged" in n for n in notices), notices
    conn.execute("DELETE FROM mlops.cover_letter_samples WHERE id = 4")
    (candidate,) = conn.execute("SELECT candidate_id FROM mlops.duplicate_candidates WHERE left_key = '3'").fetchone()
    with pytest.raises(psycopg.errors.NoDataFound) as exc:
        conn.execute("SELECT mlops.review_candidate(%s, 'merge')", (candidate,))
    assert f"mlops.review_candidate({candidate}, 'distinct')" in exc.value.diag.message_hint
    assert conn.execute("SELECT status FROM mlops.duplicate_candidates ORDER BY left_key").fetchall() == [
        ("merged",),
        ("pending",),
    ]


@pytest.mark.parametrize(
    ("call", "sqlstate", "message"),
    [
        ("SELECT mlops.review_candidate(999, 'merge')", "P0002", "review candidate 999 does not exist"),
        ("SELECT mlops.review_candidate(1, 'maybe')", "22023", "decision must be 'merge' or 'distinct', got 'maybe'"),
        ("SELECT mlops.review_candidate(1, NULL)", "22023", "decision must be 'merge' or 'distinct', got NULL"),
    ],
)
def test_review_candidate_bad_input(conn: psycopg.Connection, call: str, sqlstate: str, message: str) -> None:
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(call)
    assert exc.value.sqlstate == sqlstate
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("values", "sqlstate", "message"),
    [
        (
            "'mlops.job_postings', 't.nope', NULL, 0.9, 0.5",
            "22023",
            "exact_key does not compile: column t.nope does not exist",
        ),
        ("'mlops.job_postings', NULL, 'lower(t.title', 0.9, 0.5", "22023", "similar_text does not compile"),
        ("'mlops.job_postings', NULL, NULL, 0.9, 0.5", "22023", "needs exact_key, similar_text or comparisons"),
        (
            "'mlops.job_postings', 't.url', NULL, 0.5, 0.9",
            "22023",
            "thresholds must satisfy 0 < review_threshold <= threshold <= 1",
        ),
        ("'mlops.job_postings', 't.url', NULL, 1.5, 0.9", "22023", "thresholds must satisfy"),
        ("'mlops.job_postings', 't.url', NULL, 0.9, 0", "22023", "thresholds must satisfy"),
        (
            "'public.no_key', 't.name', NULL, 0.9, 0.5",
            "0A000",
            "cannot merge rows of public.no_key: it has no primary key",
        ),
        ("'mlops.merge_moves', 't.fk_name', NULL, 0.9, 0.5", "22023", "is a table of the mlops-dedup package"),
        ("'mlops.job_postings', 'nope(t.url)', NULL, 0.9, 0.5", "22023", "function nope(text) does not exist"),
        ("'mlops.job_postings', 'random()', NULL, 0.9, 0.5", "22023", "calls volatile function random()"),
        ("'mlops.job_postings', 't.url; SELECT 1', NULL, 0.9, 0.5", "22023", 'exact_key contains ";"'),
    ],
)
def test_rule_validation(conn: psycopg.Connection, values: str, sqlstate: str, message: str) -> None:
    conn.execute("DELETE FROM mlops.dedup_rules WHERE target = 'mlops.job_postings'::regclass")
    conn.execute("CREATE TABLE public.no_key (name text)")
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(
            "INSERT INTO mlops.dedup_rules (target, exact_key, similar_text, threshold, review_threshold)"
            f" VALUES ({values})"
        )
    assert exc.value.sqlstate == sqlstate
    assert message in str(exc.value)


@pytest.mark.parametrize(
    ("keep_order", "message"),
    [
        ("t.nope DESC", "keep_order does not compile: column t.nope does not exist"),
        ("t.id DESC, lower(t.url)", "keep_order does not compile: expected t.<column> [ASC|DESC] [NULLS FIRST|LAST]"),
        ("t.id NULLS FIRST DESC", "keep_order does not compile: expected t.<column>"),
        ("t.id,", "keep_order does not compile: expected t.<column>"),
    ],
)
def test_rule_keep_order_is_a_strict_column_list(conn: psycopg.Connection, keep_order: str, message: str) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        conn.execute("UPDATE mlops.dedup_rules SET keep_order = %s WHERE target = %s::regclass", (keep_order, LETTERS))
    assert message in str(exc.value)


def test_rule_keep_order_is_rebuilt_from_column_names(conn: psycopg.Connection) -> None:
    conn.execute(
        "UPDATE mlops.dedup_rules SET keep_order = ' T.\"id\" desc nulls last , t.URL' WHERE target = %s::regclass",
        (LETTERS,),
    )
    assert conn.execute(
        "SELECT mlops.dedup_rule_keep_order_sql(%s, keep_order) FROM mlops.dedup_rules WHERE target = %s::regclass",
        (LETTERS, LETTERS),
    ).fetchone() == ("t.id DESC NULLS LAST, t.url ASC",)


def test_merge_duplicates_inside_a_transaction_is_a_clear_error(dsn: str) -> None:
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.errors.InvalidTransactionState) as exc:
        conn.execute("INSERT INTO mlops.job_postings (url) VALUES ('https://jobs.example.com/1')")
        conn.execute("CALL mlops.merge_duplicates()")
    assert "cannot run inside a transaction block" in str(exc.value)
    assert "mlops.merge_rows()" in exc.value.diag.message_hint


def test_merge_duplicates_unknown_rule_and_bad_batch(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.UndefinedObject) as exc:
        conn.execute("CALL mlops.merge_duplicates('mlops.user_interactions')")
    assert "no dedup rule for mlops.user_interactions" in str(exc.value)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        conn.execute("CALL mlops.merge_duplicates(p_batch_size => 0)")
    assert "batch size must be a positive number of clusters, got 0" in str(exc.value)


def test_concurrent_run_on_the_same_table_is_skipped(conn: psycopg.Connection, dsn: str) -> None:
    add_letters(conn, [(1, "https://x.example.com/1", "a"), (2, "https://x.example.com/1/", "a")])
    with psycopg.connect(dsn, autocommit=True) as other:
        # the lock a running merge_duplicates holds for the table
        other.execute(
            "SELECT pg_advisory_lock(hashtext('mlops.merge_duplicates'), %s::regclass::oid::integer)", (LETTERS,)
        )
        conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    assert conn.execute("SELECT status, error FROM mlops.dedup_runs").fetchone() == (
        "skipped",
        "another merge_duplicates run holds this table",
    )
    assert conn.execute("SELECT count(*) FROM mlops.merges").fetchone() == (0,)


def test_interrupted_run_keeps_committed_batches_and_a_rerun_finishes(conn: psycopg.Connection, dsn: str) -> None:
    add_letters(
        conn,
        [
            (i, f"https://x.example.com/{(i + 1) // 2}" + ("/" if i % 2 == 0 else ""), f"letter {i}")
            for i in range(1, 7)
        ],
    )
    before = snapshot(conn, (LETTERS,))
    with psycopg.connect(dsn) as blocker, psycopg.connect(dsn, autocommit=True) as runner_conn:
        blocker.execute("SELECT FROM mlops.cover_letter_samples WHERE id = 6 FOR UPDATE")  # loser of cluster 3
        pid = runner_conn.info.backend_pid
        failure: list[BaseException] = []

        def run() -> None:
            try:
                runner_conn.execute("CALL mlops.merge_duplicates(%s, p_batch_size => 1)", (LETTERS,))
            except psycopg.Error as exc:
                failure.append(exc)

        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 30
        while not conn.execute(
            "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (pid, [blocker.info.backend_pid])
        ).fetchone()[0]:
            assert time.monotonic() < deadline, "merge_duplicates never blocked on the locked row"
            time.sleep(0.005)
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
        thread.join(30)
        blocker.rollback()
    assert failure, "the terminated run should have failed"
    merged = conn.execute(
        "SELECT id, merged_into FROM mlops.cover_letter_samples WHERE merged_into IS NOT NULL ORDER BY id"
    ).fetchall()
    assert merged == [(2, 1), (4, 3)]  # batches 1 and 2 committed whole; batch 3 untouched
    assert conn.execute("SELECT merged_into FROM mlops.cover_letter_samples WHERE id = 6").fetchone() == (None,)
    conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    assert conn.execute("SELECT count(*) FROM mlops.cover_letter_samples WHERE merged_into IS NOT NULL").fetchone() == (
        3,
    )
    statuses = conn.execute("SELECT status FROM mlops.dedup_runs ORDER BY run_id").fetchall()
    assert statuses == [("failed",), ("succeeded",)]
    assert len(before[LETTERS]) == 6


def test_stats_view_and_notification(conn: psycopg.Connection, dsn: str) -> None:
    add_letters(conn, [(1, "https://x.example.com/1", "a"), (2, "https://x.example.com/1/", "a")])
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN mlops_dedup")
        conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
        notes = list(listener.notifies(timeout=5, stop_after=1))
    assert notes and '"rows_merged": 1' in notes[0].payload
    stats = conn.execute(
        "SELECT runs, last_status, rows_merged, pending_reviews FROM mlops.dedup_stats WHERE target = %s::regclass",
        (LETTERS,),
    ).fetchone()
    assert stats == (1, "succeeded", 1, 0)


def test_detection_quality_against_brute_force(conn: psycopg.Connection) -> None:
    datagen.generate(conn, postings=20, letters=150, dup_fraction=0.3)
    (threshold,) = conn.execute(
        "SELECT threshold FROM mlops.dedup_rules WHERE target = %s::regclass", (LETTERS,)
    ).fetchone()
    truth = set(
        conn.execute(
            "SELECT a.id, b.id FROM mlops.cover_letter_samples AS a JOIN mlops.cover_letter_samples AS b"
            " ON a.id < b.id WHERE similarity(a.content, b.content) >= %s",
            (threshold,),
        ).fetchall()
    )
    found_members = members(conn, LETTERS)  # leaves the verified pairs in pg_temp.mlops_dedup_edges
    found = set(
        conn.execute(
            "SELECT a, b FROM pg_temp.mlops_dedup_edges WHERE a < b AND score >= %s",
            (threshold,),
        ).fetchall()
    )
    recall = len(truth & found) / len(truth)
    precision = len(truth & found) / len(found)
    print(f"quality: {len(truth)} true pairs, recall {recall:.3f}, precision {precision:.3f}")
    assert len(truth) >= 20
    assert recall >= 0.98
    assert precision >= 0.99
    # and every merged member is similar enough to its own survivor (no chaining)
    for survivor, member, _ in found_members:
        (score,) = conn.execute(
            "SELECT similarity(a.content, b.content) FROM mlops.cover_letter_samples AS a,"
            " mlops.cover_letter_samples AS b WHERE a.id = %s AND b.id = %s",
            (survivor, member),
        ).fetchone()
        url_equal = conn.execute(
            "SELECT mlops.normalize_url(a.url) = mlops.normalize_url(b.url) FROM mlops.cover_letter_samples AS a,"
            " mlops.cover_letter_samples AS b WHERE a.id = %s AND b.id = %s",
            (survivor, member),
        ).fetchone()[0]
        assert score >= threshold or url_equal
