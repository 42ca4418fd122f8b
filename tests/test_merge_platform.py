"""merge_rows / unmerge / resolve_id on the platform's tables: the incident and its collision case."""

import psycopg
import pytest
from helpers import load_incident, merge_log_counts, snapshot


@pytest.fixture
def incident(conn: psycopg.Connection) -> psycopg.Connection:
    load_incident(conn)
    return conn


def merge_letters(conn: psycopg.Connection, survivor: int, losers: list[int], **options: object) -> int:
    extra = "".join(f", p_{name} => %({name})s" for name in options)
    return conn.execute(
        f"SELECT mlops.merge_rows('mlops.cover_letter_samples', %(s)s, %(l)s::bigint[]{extra})",
        {"s": survivor, "l": losers, **options},
    ).fetchone()[0]


def rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def test_merge_repoints_references_and_deletes_loser(incident: psycopg.Connection) -> None:
    merge_letters(incident, 1, [2])
    assert rows(incident, "SELECT id FROM mlops.cover_letter_samples ORDER BY id") == [(1,), (3,)]
    assert rows(incident, "SELECT id, resume_id, job_id FROM mlops.job_recommendations ORDER BY id") == [
        (1, 1, 1),  # the survivor's own recommendation for job 1
        (3, 1, 3),  # moved from letter 2
        (4, 3, 3),
    ]


def test_merge_resolves_unique_collision_by_merging_the_twin(incident: psycopg.Connection) -> None:
    merge_id = merge_letters(incident, 1, [2])
    # recommendation 2 (letter 2, job 1) collided with 1 (letter 1, job 1): merged into it, interaction follows
    assert rows(incident, "SELECT id, recommendation_id FROM mlops.user_interactions ORDER BY id") == [
        (1, 1),
        (2, 1),
        (3, 3),
        (4, 4),
    ]
    child = rows(
        incident,
        "SELECT parent_merge_id, target::text, survivor_id, loser_ids, reason FROM mlops.merges WHERE merge_id <> "
        f"{merge_id}",
    )
    assert child == [(merge_id, "mlops.job_recommendations", 1, [2], "conflict")]


def test_merge_archives_every_deleted_row(incident: psycopg.Connection) -> None:
    before = snapshot(incident)
    merge_letters(incident, 1, [2])
    archived = rows(incident, "SELECT target::text, row_key, row_data FROM mlops.merge_archive ORDER BY archive_id")
    assert [(t, i) for t, i, _ in archived] == [("mlops.job_recommendations", "2"), ("mlops.cover_letter_samples", "2")]
    assert archived[1][2] in before["mlops.cover_letter_samples"]
    assert archived[0][2] in before["mlops.job_recommendations"]
    # nothing lost: archived + remaining = before, table by table
    for table in ("mlops.cover_letter_samples", "mlops.job_recommendations"):
        remaining = incident.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        in_archive = sum(1 for t, _, _ in archived if t == table)
        assert remaining + in_archive == len(before[table])


def test_merge_logs_every_moved_reference(incident: psycopg.Connection) -> None:
    merge_letters(incident, 1, [2])
    moves = rows(
        incident, "SELECT referencing_table::text, fk_name, row_key, loser_key FROM mlops.merge_moves ORDER BY 1, 3"
    )
    assert moves == [
        ("mlops.job_recommendations", "job_recommendations_resume_id_fkey", {"id": 3}, "2"),
        ("mlops.user_interactions", "user_interactions_recommendation_id_fkey", {"id": 2}, "2"),
    ]


def test_unmerge_restores_everything_exactly(incident: psycopg.Connection) -> None:
    before = snapshot(incident)
    merge_id = merge_letters(incident, 1, [2], fill_nulls=True)
    assert snapshot(incident) != before
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(incident) == before
    assert rows(incident, "SELECT count(*) FROM mlops.merges WHERE undone_at IS NULL") == [(0,)]


def test_unmerge_keeps_identity_sequences_working(incident: psycopg.Connection) -> None:
    incident.execute("SELECT setval(pg_get_serial_sequence('mlops.cover_letter_samples', 'id'), 3)")
    merge_id = merge_letters(incident, 1, [2])
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    new_id = incident.execute(
        "INSERT INTO mlops.cover_letter_samples (content) VALUES ('new') RETURNING id"
    ).fetchone()[0]
    assert new_id == 4


def test_fill_nulls_takes_loser_values_and_undo_clears_them(incident: psycopg.Connection) -> None:
    merge_id = merge_letters(incident, 1, [2], fill_nulls=True)
    assert rows(incident, "SELECT company, position FROM mlops.cover_letter_samples WHERE id = 1") == [
        ("Acme", "ML Engineer")  # company filled from letter 2; position kept
    ]
    assert rows(incident, f"SELECT filled FROM mlops.merges WHERE merge_id = {merge_id}") == [({"company": "Acme"},)]
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(incident, "SELECT company FROM mlops.cover_letter_samples WHERE id = 1") == [(None,)]


def test_fill_nulls_uses_losers_in_the_order_given(conn: psycopg.Connection) -> None:
    conn.execute(
        "INSERT INTO mlops.job_postings (id, url, company) OVERRIDING SYSTEM VALUE"
        " VALUES (1, 'u1', NULL), (2, 'u2', NULL), (3, 'u3', 'Third'), (4, 'u4', 'Fourth')"
    )
    conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[2, 4, 3]::bigint[], p_fill_nulls => true)")
    assert rows(conn, "SELECT company FROM mlops.job_postings WHERE id = 1") == [("Fourth",)]


def test_fill_nulls_off_by_default(incident: psycopg.Connection) -> None:
    merge_letters(incident, 1, [2])
    assert rows(incident, "SELECT company FROM mlops.cover_letter_samples WHERE id = 1") == [(None,)]


def test_undo_of_fill_keeps_a_value_changed_since(incident: psycopg.Connection) -> None:
    merge_id = merge_letters(incident, 1, [2], fill_nulls=True)
    incident.execute("UPDATE mlops.cover_letter_samples SET company = 'Edited' WHERE id = 1")
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(incident, "SELECT company FROM mlops.cover_letter_samples WHERE id = 1") == [("Edited",)]


def test_soft_delete_marks_loser_and_undo_revives_it(incident: psycopg.Connection) -> None:
    before = snapshot(incident)
    merge_id = merge_letters(incident, 1, [2], soft_delete=True)
    assert rows(
        incident, "SELECT merged_into, deleted_at IS NOT NULL FROM mlops.cover_letter_samples WHERE id = 2"
    ) == [(1, True)]
    assert rows(incident, "SELECT count(*) FROM mlops.job_recommendations WHERE resume_id = 2") == [(0,)]
    assert rows(
        incident, "SELECT count(*) FROM mlops.merge_archive WHERE target = 'mlops.cover_letter_samples'::regclass"
    ) == [(0,)]
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(incident) == before


def test_resolve_id_follows_merge_chains(incident: psycopg.Connection) -> None:
    merge_letters(incident, 1, [2])
    incident.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 3, ARRAY[1]::bigint[])")
    resolved = rows(
        incident,
        "SELECT mlops.resolve_id('mlops.cover_letter_samples', i) FROM unnest(ARRAY[1, 2, 3, 99]) AS i",
    )
    assert resolved == [(3,), (3,), (3,), (None,)]


def test_resolve_id_after_undo_points_at_the_row_again(incident: psycopg.Connection) -> None:
    merge_id = merge_letters(incident, 1, [2])
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(incident, "SELECT mlops.resolve_id('mlops.cover_letter_samples', 2)") == [(2,)]


def test_merging_job_postings_moves_cascade_fk_references(incident: psycopg.Connection) -> None:
    incident.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[2]::bigint[])")
    incident.execute("INSERT INTO mlops.user_interactions (user_id, job_id, interaction_type) VALUES (5, 1, 'x')")
    assert rows(incident, "SELECT count(*) FROM mlops.user_interactions") == [(5,)]  # nothing cascaded away


def test_merge_of_several_losers_with_collisions_among_them(conn: psycopg.Connection) -> None:
    load_incident(conn)
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, content) OVERRIDING SYSTEM VALUE VALUES (5, 'x'), (6, 'x');"
        "INSERT INTO mlops.job_recommendations (id, resume_id, job_id) OVERRIDING SYSTEM VALUE"
        " VALUES (10, 5, 3), (11, 6, 3), (12, 6, 2)"
    )
    before = snapshot(conn)
    merge_id = conn.execute(
        "SELECT mlops.merge_rows('mlops.cover_letter_samples', 3, ARRAY[5, 6]::bigint[])"
    ).fetchone()[0]
    # letters 3, 5, 6 all recommended for job 3: one recommendation survives (the survivor's own, id 4)
    assert rows(
        conn, "SELECT id, resume_id, job_id FROM mlops.job_recommendations WHERE resume_id = 3 ORDER BY id"
    ) == [
        (4, 3, 3),
        (12, 3, 2),
    ]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn) == before


def test_merge_log_written_inside_callers_transaction(incident: psycopg.Connection, dsn: str) -> None:
    before = snapshot(incident), merge_log_counts(incident)
    with psycopg.connect(dsn) as tx:
        tx.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])")
        tx.rollback()
    assert (snapshot(incident), merge_log_counts(incident)) == before
