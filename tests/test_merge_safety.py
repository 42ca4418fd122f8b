"""What a merge refuses to do: merge under RLS it cannot see past, merge with FKs off, undo out of order."""

import psycopg
import pytest
from helpers import load_incident, merge_log_counts, snapshot

ROLE = "mlops_test_merger"


@pytest.fixture
def incident(conn: psycopg.Connection) -> psycopg.Connection:
    load_incident(conn)
    return conn


@pytest.fixture
def merger_role(incident: psycopg.Connection) -> str:
    """A role with every privilege a merge needs, but not superuser and not the tables' owner."""
    incident.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN CREATE ROLE {ROLE}; END IF;
        END $$;
        GRANT USAGE ON SCHEMA mlops TO {ROLE};
        GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA mlops TO {ROLE};
        GRANT USAGE ON ALL SEQUENCES IN SCHEMA mlops TO {ROLE};
        """
    )
    return ROLE


def merge_letters(conn: psycopg.Connection, survivor: int = 1, losers: tuple[int, ...] = (2,)) -> int:
    return conn.execute(
        "SELECT mlops.merge_rows('mlops.cover_letter_samples', %s, %s::bigint[])", (survivor, list(losers))
    ).fetchone()[0]


def test_routines_are_not_executable_without_a_grant(incident: psycopg.Connection, merger_role: str) -> None:
    incident.execute(f"SET ROLE {merger_role}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        merge_letters(incident)
    assert "permission denied for function merge_rows" in str(exc.value)


def test_merge_refused_when_row_level_security_hides_rows(incident: psycopg.Connection, merger_role: str) -> None:
    incident.execute(
        f"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mlops TO {merger_role};"
        "ALTER TABLE mlops.job_recommendations ENABLE ROW LEVEL SECURITY;"
        f"CREATE POLICY recs_high_score ON mlops.job_recommendations TO {merger_role} USING (score > 0.5)"
    )
    before = snapshot(incident), merge_log_counts(incident)
    incident.execute(f"SET ROLE {merger_role}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        merge_letters(incident)
    assert exc.value.sqlstate == "42501"
    assert f"row-level security on mlops.job_recommendations applies to role {merger_role}" in str(exc.value)
    incident.execute("RESET ROLE")
    assert (snapshot(incident), merge_log_counts(incident)) == before


def test_merge_allowed_for_role_that_bypasses_row_level_security(incident: psycopg.Connection) -> None:
    incident.execute(
        "ALTER TABLE mlops.job_recommendations ENABLE ROW LEVEL SECURITY;"
        "CREATE POLICY recs_none ON mlops.job_recommendations USING (false)"
    )
    merge_letters(incident)  # superuser: RLS does not apply, every row is seen
    assert incident.execute("SELECT count(*) FROM mlops.job_recommendations WHERE resume_id = 2").fetchone()[0] == 0


def test_merge_refused_under_replica_replication_role(incident: psycopg.Connection) -> None:
    before = snapshot(incident), merge_log_counts(incident)
    incident.execute("SET session_replication_role = replica")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        merge_letters(incident)
    assert "refusing to merge with session_replication_role = replica" in str(exc.value)
    incident.execute("RESET session_replication_role")
    assert (snapshot(incident), merge_log_counts(incident)) == before


def test_unmerge_refused_while_survivor_was_merged_away_later(incident: psycopg.Connection) -> None:
    first = merge_letters(incident, 1, (2,))
    second = merge_letters(incident, 3, (1,))
    before = snapshot(incident), merge_log_counts(incident)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        incident.execute("SELECT mlops.unmerge(%s)", (first,))
    assert f"cannot undo merge {first}: merge {second} merged row(s) 1 of mlops.cover_letter_samples" in str(exc.value)
    assert exc.value.diag.message_hint == f"Undo merge {second} first."
    assert (snapshot(incident), merge_log_counts(incident)) == before


def test_unmerge_in_reverse_order_restores_everything(incident: psycopg.Connection) -> None:
    before = snapshot(incident)
    first = merge_letters(incident, 1, (2,))
    second = merge_letters(incident, 3, (1,))
    incident.execute("SELECT mlops.unmerge(%s)", (second,))
    incident.execute("SELECT mlops.unmerge(%s)", (first,))
    assert snapshot(incident) == before


@pytest.mark.parametrize("order", ["newest first", "oldest first"])
def test_unmerge_when_a_moved_row_was_merged_away_later(incident: psycopg.Connection, order: str) -> None:
    before = snapshot(incident)
    first = merge_letters(incident, 1, (2,))  # moves recommendation 3 to letter 1
    later = incident.execute("SELECT mlops.merge_rows('mlops.job_recommendations', 4, ARRAY[3]::bigint[])").fetchone()[
        0
    ]
    for merge_id in (later, first) if order == "newest first" else (first, later):
        incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(incident) == before


def test_unmerge_of_conflict_merge_points_at_its_parent(incident: psycopg.Connection) -> None:
    parent = merge_letters(incident)
    child = incident.execute("SELECT merge_id FROM mlops.merges WHERE parent_merge_id = %s", (parent,)).fetchone()[0]
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        incident.execute("SELECT mlops.unmerge(%s)", (child,))
    assert f"merge {child} is a conflict merge inside merge {parent}" in str(exc.value)
    assert exc.value.diag.message_hint == f"Undo merge {parent}; it undoes this one too."


def test_unmerge_twice_is_refused(incident: psycopg.Connection) -> None:
    merge_id = merge_letters(incident)
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert f"merge {merge_id} was already undone at" in str(exc.value)


def test_unmerge_leaves_rows_changed_since_and_says_so(incident: psycopg.Connection) -> None:
    notices: list[str] = []
    incident.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    merge_id = merge_letters(incident)  # moves recommendation 3 to letter 1
    incident.execute("UPDATE mlops.job_recommendations SET resume_id = 3, job_id = 2 WHERE id = 3")
    incident.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert incident.execute("SELECT resume_id FROM mlops.job_recommendations WHERE id = 3").fetchone()[0] == 3
    assert any("1 of 1 row(s) of mlops.job_recommendations moved through" in n for n in notices)
