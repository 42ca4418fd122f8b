"""Every routine of the package: plpgsql_check clean, search_path pinned, commented, not executable by PUBLIC."""

import os

import psycopg
import pytest

ROUTINES = """
SELECT p.oid::regprocedure::text AS routine, p.prokind, p.proconfig, p.proacl,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
WHERE p.pronamespace = 'mlops'::regnamespace AND l.lanname = 'plpgsql'
ORDER BY 1
"""


def routines(conn: psycopg.Connection) -> list[tuple]:
    rows = conn.execute(ROUTINES).fetchall()
    assert rows, "no plpgsql routines found in schema mlops"
    return rows


def test_plpgsql_check_reports_nothing(conn: psycopg.Connection) -> None:
    available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'plpgsql_check'").fetchone()
    if available is None:
        if os.environ.get("CI") == "true":
            pytest.fail("plpgsql_check is not installed; CI must install postgresql-15-plpgsql-check")
        pytest.skip("plpgsql_check not installed here (apt-get install postgresql-15-plpgsql-check)")
    conn.execute("CREATE EXTENSION IF NOT EXISTS plpgsql_check")
    # incremental detection's capture triggers are on the user's tables, created by a rule's first run
    conn.execute("SELECT mlops.dedup_track_changes('mlops.cover_letter_samples')")
    findings = []
    for routine, *_ in routines(conn):
        # a trigger function is checked against the table its trigger is on, with its transition tables
        (relid, old_table, new_table) = conn.execute(
            "SELECT coalesce(min(tgrelid), 0), min(tgoldtable), min(tgnewtable) FROM pg_trigger"
            " WHERE tgfoid = %s::regprocedure",
            (routine,),
        ).fetchone()
        for (line,) in conn.execute(
            "SELECT * FROM plpgsql_check_function(%s::regprocedure, relid => %s, fatal_errors => false,"
            " extra_warnings => true, performance_warnings => false, oldtable => %s, newtable => %s)",
            (routine, relid, old_table, new_table),
        ):
            findings.append(f"{routine}: {line}")
    assert findings == []


# Entry points that change user tables read the caller's search_path (for the user's triggers) before they pin
# their own: their first declaration calls mlops.pin_search_path(), which itself carries no SET clause.
SELF_PINNING = {
    "mlops.merge_rows(regclass,anycompatible,anycompatiblearray,text,boolean,boolean,real)",
    "mlops.merge_clusters(regclass,anycompatiblearray,anycompatiblearray,text,real[],bigint[],boolean,boolean)",
    "mlops.unmerge(bigint)",
    "mlops.unmerge_run(bigint)",
    "mlops.review_candidate(bigint,text)",
}


# (lock_timeout=50ms: the signatures' ANALYZE does not wait for autovacuum's lock; restored when it returns)
ALLOWED_SETTINGS = {
    "jit=off",
    "DateStyle=ISO, MDY",
    "IntervalStyle=postgres",
    "TimeZone=UTC",
    "extra_float_digits=3",
    "lock_timeout=50ms",
}


def test_every_routine_pins_search_path(conn: psycopg.Connection) -> None:
    # Procedures that COMMIT cannot carry a SET clause; they call set_config in their body instead.
    # (detection also turns JIT off: it compiled for a second what runs in milliseconds; the change capture trigger
    # writes keys in one spelling whatever the writer's date and time settings)
    unpinned = {
        r
        for r, kind, config, *_ in routines(conn)
        if kind == "f"
        and ((config or [None])[0] != "search_path=pg_catalog, pg_temp" or set((config or [])[1:]) - ALLOWED_SETTINGS)
    }
    assert unpinned == SELF_PINNING | {"mlops.pin_search_path(text)"}
    for routine in SELF_PINNING:
        (source,) = conn.execute("SELECT prosrc FROM pg_proc WHERE oid = %s::regprocedure", (routine,)).fetchone()
        declarations = source.split("DECLARE", 1)[1].lstrip()
        assert declarations.startswith("v_caller_search_path text := mlops.pin_search_path();"), routine
        assert "PERFORM pg_catalog.set_config('search_path', v_caller_search_path, true);" in source, routine


def test_every_routine_has_a_comment(conn: psycopg.Connection) -> None:
    assert [r for r, _k, _c, _a, comment in routines(conn) if not comment] == []


def test_no_routine_is_executable_by_public(conn: psycopg.Connection) -> None:
    executable = conn.execute(
        """
        SELECT p.oid::regprocedure::text FROM pg_proc p
        WHERE p.pronamespace = 'mlops'::regnamespace
          AND p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
          AND (p.proacl IS NULL OR EXISTS (
                SELECT FROM aclexplode(p.proacl) a WHERE a.grantee = 0 AND a.privilege_type = 'EXECUTE'))
        """
    ).fetchall()
    assert executable == []
