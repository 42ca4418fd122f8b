"""User code (triggers, rules and the functions they call) on user tables runs under the caller's search_path during
a merge and its undo, as for the application's own statements (issue 8, case C); the package's own SQL stays immune to
functions and operators planted in that path; the caller's path is back when the routine returns. Also the merge's
messages: where an already merged row lives now, and long id lists cut short."""

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

import runner

AUDITED = """
CREATE TABLE public.audit_log (table_name text, op text, row_id bigint);
-- unqualified names, as application code is written: resolved through the search_path
CREATE FUNCTION public.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log VALUES (TG_TABLE_NAME, TG_OP, CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END);
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON mlops.job_recommendations
    FOR EACH ROW EXECUTE FUNCTION public.audit();
CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON mlops.job_postings
    FOR EACH ROW EXECUTE FUNCTION public.audit();
-- a statement-level trigger fires before the statement reads any row: it must see the caller's path too
CREATE FUNCTION public.audit_statement() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO audit_log VALUES (TG_TABLE_NAME, 'before ' || TG_OP, NULL);
    RETURN NULL;
END $$;
CREATE TRIGGER audit_statement BEFORE UPDATE ON mlops.job_recommendations
    FOR EACH STATEMENT EXECUTE FUNCTION public.audit_statement();
INSERT INTO mlops.job_postings (id, url, title) OVERRIDING SYSTEM VALUE
VALUES (1, 'https://jobs.example.com/1', 'ML'), (2, 'https://jobs.example.com/1/', 'ML'),
       (3, 'https://jobs.example.com/3', 'Data');
INSERT INTO mlops.cover_letter_samples (id, content) OVERRIDING SYSTEM VALUE VALUES (1, 'a'), (2, 'b');
INSERT INTO mlops.job_recommendations (id, resume_id, job_id, score) OVERRIDING SYSTEM VALUE
VALUES (10, 1, 2, 0.5), (11, 2, 2, 0.7);
TRUNCATE public.audit_log;
"""

PLANTED = """
CREATE TABLE public.planted_calls (what text);
CREATE FUNCTION public.planted_eq(bigint, bigint) RETURNS boolean LANGUAGE sql
    AS 'INSERT INTO public.planted_calls VALUES (''bigint ='') RETURNING $1 OPERATOR(pg_catalog.=) $2';
CREATE OPERATOR public.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = public.planted_eq);
CREATE FUNCTION public.planted_int_eq(integer, integer) RETURNS boolean LANGUAGE sql
    AS 'INSERT INTO public.planted_calls VALUES (''integer ='') RETURNING $1 OPERATOR(pg_catalog.=) $2';
CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = public.planted_int_eq);
CREATE FUNCTION public.to_jsonb(anyelement) RETURNS jsonb LANGUAGE sql
    AS 'INSERT INTO public.planted_calls VALUES (''to_jsonb'') RETURNING ''{}''::jsonb';
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE sql
    AS 'INSERT INTO public.planted_calls VALUES (''unnest'') RETURNING 0::bigint';
"""


def audit_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT table_name, op, row_id FROM public.audit_log ORDER BY 1, 2, 3").fetchall()


def test_a_merge_and_its_undo_fire_user_triggers_under_the_callers_search_path(dsn: str) -> None:
    """Case C: an audit trigger with unqualified names on a referencing table and on the target: the merge, its
    collision merge and the undo all run, and the trigger wrote what the application's own statements would."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(AUDITED)
        (path,) = conn.execute("SHOW search_path").fetchone()
        (merge_id,) = conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[2]::bigint[])").fetchone()
        assert conn.execute("SHOW search_path").fetchone() == (path,)
        assert audit_rows(conn) == [
            ("job_postings", "DELETE", 2),
            ("job_recommendations", "UPDATE", 10),
            ("job_recommendations", "UPDATE", 11),
            ("job_recommendations", "before UPDATE", None),
        ]
        assert conn.execute("SELECT id, job_id FROM mlops.job_recommendations ORDER BY id").fetchall() == [
            (10, 1),
            (11, 1),
        ]
        conn.execute("TRUNCATE public.audit_log")
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
        assert conn.execute("SHOW search_path").fetchone() == (path,)
        assert audit_rows(conn) == [
            ("job_postings", "INSERT", 2),
            ("job_recommendations", "UPDATE", 10),
            ("job_recommendations", "UPDATE", 11),
            ("job_recommendations", "before UPDATE", None),
        ]
        assert conn.execute("SELECT id, job_id FROM mlops.job_recommendations ORDER BY id").fetchall() == [
            (10, 2),
            (11, 2),
        ]


def test_runner_merges_fire_user_triggers_under_the_databases_default_path(dsn: str) -> None:
    """runner.py pins its own connections' path; the user's triggers still see the database's default path."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(AUDITED)
    runner.main(["merge", "--dsn", dsn, "--target", "mlops.job_postings"])
    with psycopg.connect(dsn, autocommit=True) as conn:
        (runs,) = conn.execute(
            "SELECT array_agg(status ORDER BY run_id) FROM mlops.dedup_runs"
            " WHERE target = 'mlops.job_postings'::regclass"
        ).fetchone()
        assert runs == ["succeeded"]
        # the platform's rule soft-deletes: the loser is marked (an UPDATE the trigger saw), its references moved
        assert audit_rows(conn) == [
            ("job_postings", "UPDATE", 2),
            ("job_recommendations", "UPDATE", 10),
            ("job_recommendations", "UPDATE", 11),
            ("job_recommendations", "before UPDATE", None),
        ]
        assert conn.execute("SELECT merged_into FROM mlops.job_postings WHERE id = 2").fetchone() == (1,)


def test_package_sql_binds_nothing_planted_in_the_callers_path_while_user_code_does(dsn: str) -> None:
    """Operators and functions planted in public, with public ahead of pg_catalog in the caller's path: the merge
    and the undo call none of them, while the user's trigger (unqualified INSERT INTO audit_log) still resolves."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(AUDITED)
        conn.execute(PLANTED)
    attacked = make_conninfo(dsn, options="-c search_path=public,pg_catalog")
    with psycopg.connect(attacked, autocommit=True) as conn:
        (merge_id,) = conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[2]::bigint[])").fetchone()
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
        assert conn.execute("SHOW search_path").fetchone() == ("public,pg_catalog",)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM public.planted_calls").fetchone() == (0,)
        assert ("job_postings", "INSERT", 2) in audit_rows(conn)


def test_the_callers_path_is_back_after_an_error_caught_in_a_savepoint(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        conn.execute(AUDITED)
        conn.execute("SET search_path = public")
        with pytest.raises(psycopg.errors.NoDataFound), conn.transaction():
            conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[99]::bigint[])")
        assert conn.execute("SHOW search_path").fetchone() == ("public",)


def test_already_merged_names_where_the_row_lives_now(conn: psycopg.Connection) -> None:
    conn.execute(AUDITED)
    conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY[2]::bigint[])")
    conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 3, ARRAY[1]::bigint[])")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 3, ARRAY[2]::bigint[])")
    assert str(exc.value.diag.message_primary) == (
        "loser 2 of mlops.job_postings was already merged into 1 (merge 1); that row lives on as 3"
    )


def test_an_error_over_many_ids_names_the_first_few_and_the_count(conn: psycopg.Connection) -> None:
    conn.execute(AUDITED)
    with pytest.raises(psycopg.errors.NoDataFound) as exc:
        conn.execute("SELECT mlops.merge_rows('mlops.job_postings', 1, ARRAY(SELECT generate_series(100, 100099)))")
    message = exc.value.diag.message_primary
    assert message == "100000 losers do not exist in mlops.job_postings: 100, 101, 102, 103, 104 … and 99995 more"
