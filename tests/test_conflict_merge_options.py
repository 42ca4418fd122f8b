"""Conflict merges honour their parent merge's options (issue 8, item 5): a soft-deleting merge soft-deletes the
colliding referencing rows where that table has the columns for it (archives them elsewhere), fill_nulls fills the
twin from them, rows merged away stay pointing at their (soft-deleted) loser, and undo restores all of it."""

import psycopg
from helpers import load_incident, snapshot

SCHEMA = """
CREATE SCHEMA club;
CREATE TABLE club.person (
    id bigint PRIMARY KEY, name text, deleted_at timestamptz, merged_into bigint
);
CREATE TABLE club.membership (
    id bigint PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES club.person (id),
    club text NOT NULL,
    note text,
    deleted_at timestamptz,
    merged_into bigint,
    UNIQUE (person_id, club)
);
CREATE TABLE club.badge (
    id bigint PRIMARY KEY,
    person_id bigint NOT NULL REFERENCES club.person (id),
    label text NOT NULL,
    note text,
    UNIQUE (person_id, label)
);
INSERT INTO club.person VALUES (1, 'Kim', NULL, NULL), (2, 'Kim', NULL, NULL);
INSERT INTO club.membership (id, person_id, club, note) VALUES (10, 1, 'chess', NULL), (20, 2, 'chess', 'captain'),
    (21, 2, 'go', NULL);
INSERT INTO club.badge (id, person_id, label, note) VALUES (30, 1, 'gold', NULL), (40, 2, 'gold', 'from 2019');
"""
TABLES = ("club.person", "club.membership", "club.badge")


def test_a_soft_deleting_merge_soft_deletes_and_fills_colliding_rows_and_undo_restores_them(
    conn: psycopg.Connection,
) -> None:
    conn.execute(SCHEMA)
    before = snapshot(conn, TABLES)
    (merge_id,) = conn.execute(
        "SELECT mlops.merge_rows('club.person', 1, ARRAY[2]::bigint[], p_soft_delete => true, p_fill_nulls => true)"
    ).fetchone()
    # membership has soft-delete columns: the colliding row 20 is marked merged into its twin 10, stays in place
    # pointing at the soft-deleted person 2; the twin took its note (fill)
    assert conn.execute(
        "SELECT id, person_id, note, merged_into, deleted_at IS NOT NULL FROM club.membership ORDER BY id"
    ).fetchall() == [(10, 1, "captain", None, False), (20, 2, "captain", 10, True), (21, 1, None, None, False)]
    # badge has none: its colliding row is archived and deleted, the twin filled
    assert conn.execute("SELECT id, person_id, note FROM club.badge ORDER BY id").fetchall() == [(30, 1, "from 2019")]
    assert conn.execute(
        "SELECT target::text, soft_deleted, fill_nulls, filled FROM mlops.merges WHERE parent_merge_id = %s"
        " ORDER BY target::text",
        (merge_id,),
    ).fetchall() == [
        ("club.badge", False, True, {"note": "from 2019"}),
        ("club.membership", True, True, {"note": "captain"}),
    ]
    # the stale re-point of a later run leaves the merged-away row where it is
    assert conn.execute("SELECT mlops.merge_repoint_stale('club.person')").fetchone() == (0,)
    assert conn.execute("SELECT person_id FROM club.membership WHERE id = 20").fetchone() == (2,)

    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, TABLES) == before


def test_a_deleting_merge_moves_rows_merged_away_earlier(conn: psycopg.Connection) -> None:
    """With soft delete off the loser goes, so a row merged away earlier that still points at it must move too
    (or the delete would fail, or cascade it away unarchived)."""
    conn.execute(SCHEMA)
    conn.execute("INSERT INTO club.person VALUES (3, 'Kim', NULL, NULL)")
    conn.execute("INSERT INTO club.membership (id, person_id, club) VALUES (50, 3, 'go')")
    conn.execute("SELECT mlops.merge_rows('club.membership', 21, ARRAY[50]::bigint[], p_soft_delete => true)")
    before = snapshot(conn, TABLES)
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('club.person', 1, ARRAY[3]::bigint[])").fetchone()
    assert conn.execute("SELECT person_id, merged_into FROM club.membership WHERE id = 50").fetchone() == (1, 21)
    assert conn.execute("SELECT count(*) FROM club.person WHERE id = 3").fetchone() == (0,)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, TABLES) == before


def test_a_run_records_the_colliding_rows_its_merges_resolved(conn: psycopg.Connection) -> None:
    """The run record sums its merges' collision reports per referencing table (mlops.dedup_runs.conflicts)."""
    load_incident(conn)
    conn.execute("CALL mlops.merge_duplicates('mlops.cover_letter_samples')")
    (run_conflicts,) = conn.execute("SELECT conflicts FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    (merge_conflicts,) = conn.execute(
        "SELECT mlops.merge_conflicts_add('{}', array_agg(merge_id)) FROM mlops.merges"
        " WHERE target = 'mlops.cover_letter_samples'::regclass"
    ).fetchone()
    assert run_conflicts == merge_conflicts
    assert run_conflicts["mlops.job_recommendations"]["merged"] >= 1
    assert run_conflicts["mlops.job_recommendations"]["policy"] == "combine"
