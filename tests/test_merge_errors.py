"""Bad input to merge_rows and unmerge: a specific SQLSTATE, a message naming table and ids, nothing changed."""

import psycopg
import pytest
from helpers import load_incident, merge_log_counts, snapshot


@pytest.fixture
def incident(conn: psycopg.Connection) -> psycopg.Connection:
    load_incident(conn)
    return conn


BAD_MERGES = [
    ("'mlops.no_such'", "1", "ARRAY[2]", "42P01", 'relation "mlops.no_such" does not exist'),
    ("'mlops.cover_letter_samples'", "NULL", "ARRAY[2]", "22004", "survivor id must not be NULL"),
    (
        "'mlops.cover_letter_samples'",
        "99",
        "ARRAY[2]",
        "P0002",
        "survivor 99 does not exist in mlops.cover_letter_samples",
    ),
    (
        "'mlops.cover_letter_samples'",
        "1",
        "ARRAY[2, 98]",
        "P0002",
        "loser 98 does not exist in mlops.cover_letter_samples",
    ),
    (
        "'mlops.cover_letter_samples'",
        "1",
        "ARRAY[1, 2]",
        "22023",
        "survivor 1 of mlops.cover_letter_samples is also among",
    ),
    (
        "'mlops.cover_letter_samples'",
        "1",
        "ARRAY[2, 2]",
        "22023",
        "loser ids of mlops.cover_letter_samples appear more than once: 2",
    ),
    (
        "'mlops.cover_letter_samples'",
        "1",
        "ARRAY[]::bigint[]",
        "22023",
        "no loser ids given (merging into mlops.cover_letter_samples)",
    ),
    (
        "'mlops.cover_letter_samples'",
        "1",
        "NULL",
        "22023",
        "no loser ids given (merging into mlops.cover_letter_samples)",
    ),
    (
        "'mlops.cover_letter_samples'",
        "1",
        "ARRAY[2, NULL]",
        "22004",
        "loser ids for mlops.cover_letter_samples must not contain NULL",
    ),
]


@pytest.mark.parametrize(("target", "survivor", "losers", "sqlstate", "message"), BAD_MERGES)
def test_bad_merge_input_is_refused_and_changes_nothing(
    incident: psycopg.Connection, target: str, survivor: str, losers: str, sqlstate: str, message: str
) -> None:
    before = snapshot(incident), merge_log_counts(incident)
    with pytest.raises(psycopg.Error) as exc:
        incident.execute(f"SELECT mlops.merge_rows({target}, {survivor}, {losers}::bigint[])")
    assert exc.value.sqlstate == sqlstate
    assert message in str(exc.value)
    assert (snapshot(incident), merge_log_counts(incident)) == before


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("CREATE TABLE public.t (id int, x text)", "cannot merge rows of public.t: it has no primary key"),
        ("CREATE TABLE public.t (a int, b int, PRIMARY KEY (a, b))", "its primary key (a, b) has more than one column"),
    ],
)
def test_table_without_single_column_key_is_not_supported(conn: psycopg.Connection, ddl: str, message: str) -> None:
    conn.execute(ddl)
    with pytest.raises(psycopg.errors.FeatureNotSupported) as exc:
        conn.execute("SELECT mlops.merge_rows('public.t', 1, ARRAY[2]::bigint[])")
    assert exc.value.sqlstate == "0A000"
    assert message in str(exc.value)


def test_smallint_key_is_supported(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.t (id smallint PRIMARY KEY); INSERT INTO public.t VALUES (1), (2)")
    conn.execute("SELECT mlops.merge_rows('public.t', 1, ARRAY[2]::bigint[])")
    assert conn.execute("SELECT array_agg(id) FROM public.t").fetchone()[0] == [1]


def test_view_target_is_refused(conn: psycopg.Connection) -> None:
    conn.execute("CREATE VIEW public.v AS SELECT * FROM mlops.job_postings")
    with pytest.raises(psycopg.errors.WrongObjectType) as exc:
        conn.execute("SELECT mlops.merge_rows('public.v', 1, ARRAY[2]::bigint[])")
    assert "public.v is not a table" in str(exc.value)


def test_already_merged_loser_is_refused(incident: psycopg.Connection) -> None:
    merge_id = incident.execute(
        "SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])"
    ).fetchone()[0]
    before = snapshot(incident), merge_log_counts(incident)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        incident.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 3, ARRAY[2]::bigint[])")
    assert exc.value.sqlstate == "55000"
    assert f"loser 2 of mlops.cover_letter_samples was already merged into 1 (merge {merge_id})" in str(exc.value)
    assert (snapshot(incident), merge_log_counts(incident)) == before


def test_soft_deleted_loser_is_refused(incident: psycopg.Connection) -> None:
    incident.execute(
        "SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[], p_soft_delete => true)"
    )
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        incident.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 3, ARRAY[2]::bigint[])")
    assert "row 2 of mlops.cover_letter_samples was already merged (soft-deleted)" in str(exc.value)


def test_soft_delete_without_marker_columns_is_refused(incident: psycopg.Connection) -> None:
    before = snapshot(incident), merge_log_counts(incident)
    with pytest.raises(psycopg.errors.UndefinedColumn) as exc:
        incident.execute(
            "SELECT mlops.merge_rows('mlops.job_recommendations', 1, ARRAY[2]::bigint[], p_soft_delete => true)"
        )
    assert "cannot soft-delete merged rows of mlops.job_recommendations" in str(exc.value)
    assert (snapshot(incident), merge_log_counts(incident)) == before


@pytest.mark.parametrize(
    ("merge_id", "sqlstate", "message"),
    [("NULL", "22004", "merge id must not be NULL"), ("12345", "P0002", "merge 12345 does not exist")],
)
def test_unmerge_of_unknown_merge(conn: psycopg.Connection, merge_id: str, sqlstate: str, message: str) -> None:
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(f"SELECT mlops.unmerge({merge_id})")
    assert exc.value.sqlstate == sqlstate
    assert message in str(exc.value)


@pytest.mark.parametrize(
    "table", ["mlops.merges", "mlops.dedup_rules", "mlops.merge_archive", "mlops.duplicate_candidates"]
)
def test_merging_rows_of_the_packages_own_tables_is_refused(incident: psycopg.Connection, table: str) -> None:
    incident.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])")
    incident.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[2]::bigint[])")
    package = ("mlops.merges", "mlops.merge_archive", "mlops.merge_moves", "mlops.dedup_rules")
    before = snapshot(incident), snapshot(incident, package)

    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        incident.execute(f"SELECT mlops.merge_rows('{table}', 1, ARRAY[2]::bigint[])")

    assert exc.value.sqlstate == "22023"
    assert f"{table} is a table of the mlops-dedup package; its rows are never merged" in str(exc.value)
    assert (snapshot(incident), snapshot(incident, package)) == before


def test_soft_delete_refuses_a_loser_the_application_deleted_already(conn: psycopg.Connection) -> None:
    """Soft delete would overwrite its deleted_at, and undo would make it live: refused, nothing changed."""
    conn.execute(
        "INSERT INTO mlops.job_postings (id, url, title, deleted_at) VALUES"
        " (20, 'https://e.example.com/1', 'E job', NULL), (21, 'https://e.example.com/1/', 'E job', '2026-01-01')"
    )
    before = snapshot(conn)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 20, ARRAY[21], p_soft_delete => true)")
    assert "cannot soft-delete rows 21 of mlops.job_postings: they are deleted already" in str(exc.value)
    assert snapshot(conn) == before
    # soft delete off: archived whole, and undo gives back its deleted_at
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 20, ARRAY[21])").fetchone()
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn) == before


@pytest.mark.parametrize(("event", "soft_delete"), [("DELETE", False), ("UPDATE", True)])
def test_merge_refuses_when_a_trigger_silently_keeps_a_loser(
    conn: psycopg.Connection, event: str, soft_delete: bool
) -> None:
    """A BEFORE trigger returning NULL skips the row without an error (here: 'archive instead of delete'); the merge
    must not log a loser as merged that is still there."""
    conn.execute(
        f"""
        CREATE TABLE public.cust (id bigint PRIMARY KEY, name text, archived boolean NOT NULL DEFAULT false,
            deleted_at timestamptz, merged_into bigint);
        CREATE FUNCTION public.cust_keep() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN UPDATE public.cust SET archived = true WHERE id = OLD.id; RETURN NULL; END $$;
        CREATE TRIGGER cust_keep BEFORE {event} ON public.cust FOR EACH ROW
            WHEN (pg_trigger_depth() = 0) EXECUTE FUNCTION public.cust_keep();
        INSERT INTO public.cust (id, name) VALUES (1, 'Lee'), (2, 'Lee'), (3, 'Lee');
        """
    )
    before = snapshot(conn, ("public.cust",)), merge_log_counts(conn)
    with pytest.raises(psycopg.errors.TriggeredActionException) as exc:
        conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2, 3], p_soft_delete => %s)", (soft_delete,))
    verb = "marked" if soft_delete else "deleted"
    assert f"merge of public.cust {verb} only 0 of 2 losers: a trigger or rule on public.cust skipped" in str(exc.value)
    assert "(ids 2, 3)" in str(exc.value)
    assert (snapshot(conn, ("public.cust",)), merge_log_counts(conn)) == before
