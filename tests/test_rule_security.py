"""Rules grant nothing: a role that may write mlops.dedup_rules never gains the rights of whoever runs detection.
Its expressions are single scalar expressions checked when written, compiled into an evaluator it owns, and run
with its rights only; text that tries to close the expression, subqueries, volatile and temporary functions are
refused; a tampered evaluator is refused at run time."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from helpers import snapshot

LETTERS = "mlops.cover_letter_samples"
POSTINGS = "mlops.job_postings"

# What the rule trigger runs as the writing role (all SECURITY INVOKER), and normalize_url for its expressions.
WRITER_ROUTINES = (
    "mlops.assert_table(regclass)",
    "mlops.assert_not_package_relation(regclass)",
    "mlops.package_table_names()",
    "mlops.key_column(regclass)",
    "mlops.key_refusal(regclass, boolean)",
    "mlops.primary_key_columns(regclass)",
    "mlops.has_soft_delete_columns(regclass)",
    "mlops.dedup_default_keep_order(regclass)",
    "mlops.dedup_rule_keep_order_sql(regclass, text)",
    "mlops.dedup_rule_compile(regclass, text, text, text, text[])",
    "mlops.dedup_rule_check_comparisons(regclass, text[], text, text)",
    "mlops.comparison_value_sql(text, regtype)",
    "mlops.comparison_base_type(regtype)",
    "mlops.dedup_rule_evaluator_problems(regprocedure, regclass, regrole)",
    "mlops.normalize_url(text)",
    "mlops.normalize_url_percent(text)",
    "mlops.dedup_rule_text_warning(regclass, regprocedure)",
    "mlops.pg_trgm_blind()",
    "mlops.dedup_rule_missing_rights(regrole, regclass)",
    "mlops.referencing_fks(regclass)",
    "mlops.foreign_key_catalog()",
    'mlops.fk_action_name("char")',
)

LETTER = (
    "I have built machine learning pipelines for three years. I deployed models to production at a startup. "
    "I mentored two junior engineers and wrote our on-call runbook. I want to join a team that ships every week."
)

# The writer's own code: grab() tries to become superuser and to empty user_interactions (which the writer may read
# and update, not delete from), and logs who it ran as;
# key() is declared IMMUTABLE (so a rule may call it) and calls grab() for every row.
WRITER_CODE = """
CREATE TABLE ws.calls (who name, became_superuser boolean, rows_deleted bigint);
CREATE FUNCTION ws.grab() RETURNS void LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_super boolean := false;
    v_deleted bigint;
BEGIN
    BEGIN
        EXECUTE format('ALTER ROLE %I SUPERUSER', {role!r});
        v_super := true;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    BEGIN
        DELETE FROM mlops.user_interactions;
        GET DIAGNOSTICS v_deleted = ROW_COUNT;
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    INSERT INTO ws.calls VALUES (current_user, v_super, v_deleted);
END;
$$;
CREATE FUNCTION ws.key(p_url text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM ws.grab();
    RETURN lower(p_url);
END;
$$;
CREATE FUNCTION ws.volatile_key(p_url text) RETURNS text LANGUAGE sql VOLATILE RETURN lower(p_url);
CREATE FUNCTION ws.set_path(p_url text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    PERFORM set_config('search_path', 'ws, pg_catalog', false);
    RETURN p_url;
END;
$$;
"""

# Everything a role could have gained: its attributes, memberships and privileges on every table and schema here.
RIGHTS = """
SELECT to_jsonb(r) - 'oid' - 'rolpassword' - 'rolvaliduntil' - 'rolconfig',
    ARRAY(SELECT m.roleid::regrole::text FROM pg_auth_members AS m WHERE m.member = r.oid ORDER BY 1),
    ARRAY(
        SELECT c.oid::regclass::text || ':' || p.priv
        FROM pg_class AS c CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p (priv)
        WHERE c.relkind IN ('r', 'p', 'v') AND c.relpersistence <> 't'
            AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
            AND has_table_privilege(r.oid, c.oid, p.priv)
        ORDER BY 1
    ),
    ARRAY(
        SELECT n.nspname || ':' || p.priv
        FROM pg_namespace AS n CROSS JOIN unnest(ARRAY['USAGE', 'CREATE']) AS p (priv)
        WHERE n.nspname !~ '^pg_(toast_)?temp' AND has_schema_privilege(r.oid, n.oid, p.priv)
        ORDER BY 1
    )
FROM pg_roles AS r WHERE r.rolname = %s
"""


@pytest.fixture
def writer(dsn: str, conn: psycopg.Connection) -> Iterator[str]:
    """A login role that may write rules (and nothing more), with a schema ws of its own; dropped afterwards."""
    role = f"w_{uuid.uuid4().hex[:10]}"
    conn.execute(f"CREATE ROLE {role} LOGIN")
    conn.execute(
        f"""
        GRANT USAGE ON SCHEMA mlops TO {role};
        GRANT USAGE, CREATE ON SCHEMA mlops_rules TO {role};
        GRANT SELECT, INSERT, UPDATE, DELETE ON mlops.dedup_rules TO {role};
        GRANT SELECT, UPDATE, DELETE ON {LETTERS}, {POSTINGS} TO {role};
        GRANT SELECT, UPDATE ON mlops.job_recommendations, mlops.user_interactions TO {role};
        GRANT EXECUTE ON FUNCTION {", ".join(WRITER_ROUTINES)} TO {role};
        CREATE SCHEMA ws AUTHORIZATION {role};
        """
    )
    # The platform's rules, written by the installer, become the writer's: only a rule's owner may change it.
    rules = conn.execute(
        "SELECT target::text, exact_key, similar_text, threshold, review_threshold, soft_delete, fill_nulls"
        " FROM mlops.dedup_rules"
    ).fetchall()
    conn.execute("DELETE FROM mlops.dedup_rules")
    with psycopg.connect(dsn, user=role, autocommit=True) as w:
        w.execute(WRITER_CODE.format(role=role))
        for values in rules:
            w.execute(
                "INSERT INTO mlops.dedup_rules (target, exact_key, similar_text, threshold, review_threshold,"
                " soft_delete, fill_nulls) VALUES (%s::regclass, %s, %s, %s, %s, %s, %s)",
                values,
            )
    yield role
    # its sessions end first: a closing session drops its temporary tables (detection's) while REASSIGN reads them
    conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,))
    while conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", (role,)).fetchone()[0]:
        pass
    conn.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER; DROP OWNED BY {role}")
    conn.execute(f"DROP ROLE {role}")


@pytest.fixture
def wconn(dsn: str, writer: str) -> Iterator[psycopg.Connection]:
    """A session of the writer."""
    with psycopg.connect(dsn, user=writer, autocommit=True) as connection:
        yield connection


def rights(conn: psycopg.Connection, role: str) -> tuple:
    return conn.execute(RIGHTS, (role,)).fetchone()


def load_data(conn: psycopg.Connection) -> None:
    """Letters 1 and 2 are the same page, 3 a near-duplicate text; two postings, which nothing may delete."""
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) VALUES"
        " (1, 'https://l.example.com/a', %s), (2, 'https://L.example.com/a', %s),"
        " (3, 'https://l.example.com/b', %s), (4, 'https://l.example.com/c', 'unrelated text about cooking')",
        (LETTER, LETTER.upper(), LETTER.replace("three years", "four years")),
    )
    conn.execute(
        "INSERT INTO mlops.job_postings (id, url, title) VALUES (1, 'https://j.example.com/1', 'ML Engineer'),"
        " (2, 'https://j.example.com/2', 'Data Engineer')"
    )
    conn.execute("ALTER SEQUENCE mlops.cover_letter_samples_id_seq RESTART WITH 10")


def evaluators(conn: psycopg.Connection) -> list[tuple[str, str]]:
    return conn.execute(
        "SELECT p.oid::regprocedure::text, p.proowner::regrole::text FROM pg_proc AS p"
        " WHERE p.pronamespace = 'mlops_rules'::regnamespace ORDER BY 1"
    ).fetchall()


def rule(conn: psycopg.Connection, target: str) -> tuple:
    return conn.execute(
        "SELECT exact_key, similar_text, block_key, keep_order, rule_owner::text, evaluator::text"
        " FROM mlops.dedup_rules WHERE target = %s::regclass",
        (target,),
    ).fetchone()


def calls(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT who, became_superuser, rows_deleted FROM ws.calls").fetchall()


# ------------------------------------------------------------------ the writer's function runs as the writer


def test_writers_function_runs_as_the_writer_when_a_superuser_detects_merges_and_reviews(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    load_data(conn)
    conn.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (writer,))  # so that it may merge by its own rule
    before = rights(conn, writer)
    interactions = snapshot(conn, ("mlops.user_interactions",))
    wconn.execute(
        "UPDATE mlops.dedup_rules SET exact_key = 'ws.key(t.url)', similar_text = NULL WHERE target = %s::regclass",
        (LETTERS,),
    )
    assert rule(conn, LETTERS)[4] == writer

    # The superuser: detection runs the writer's code as the writer; merging by the writer's rule is refused (it
    # would run the code attached to the table with the superuser's rights), recorded as a failed run; the CALL
    # raises once its rules ran.
    found = conn.execute("SELECT survivor_id, member_id, reason FROM mlops.find_duplicates(%s)", (LETTERS,)).fetchall()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    status, error = conn.execute("SELECT status, error FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    conn.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, '3', '4', 0.7)",
        (LETTERS,),
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        conn.execute("SELECT mlops.review_candidate(candidate_id, 'merge') FROM mlops.duplicate_candidates")
    conn.execute("SELECT * FROM mlops.data_quality")
    assert found == [(1, 2, "exact_key")]  # the writer's key (lower-cased URL) is what detection used
    assert status == "failed" and f"its writer {writer} does not have the rights of postgres" in error
    assert "refusing to merge by the rule for mlops.cover_letter_samples as postgres" in str(refused.value)
    assert conn.execute("SELECT count(*) FROM mlops.merges").fetchone() == (0,)

    # The writer merges by its own rule, as itself.
    wconn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    wconn.execute("SELECT mlops.review_candidate(candidate_id, 'merge') FROM mlops.duplicate_candidates")
    assert conn.execute(
        "SELECT survivor_id, loser_ids FROM mlops.merges WHERE reason LIKE 'dedup run%' ORDER BY merge_id"
    ).fetchall() == [(1, [2])]
    ran = calls(conn)
    assert ran, "the writer's function never ran"
    assert set(ran) == {(writer, False, None)}  # as the writer, the ALTER ROLE and the DELETE failed inside
    assert rights(conn, writer) == before
    assert conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (writer,)).fetchone() == (False,)
    assert snapshot(conn, ("mlops.user_interactions",)) == interactions


def test_writers_volatile_function_is_refused(wconn: psycopg.Connection, conn: psycopg.Connection) -> None:
    old = rule(conn, LETTERS)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        wconn.execute(
            "UPDATE mlops.dedup_rules SET exact_key = 'ws.volatile_key(t.url)' WHERE target = %s::regclass", (LETTERS,)
        )
    assert "exact_key calls volatile function ws.volatile_key(text)" in str(exc.value)
    assert rule(conn, LETTERS) == old


def test_evaluator_that_changes_the_session_is_an_error_and_leaves_nothing(
    conn: psycopg.Connection, wconn: psycopg.Connection
) -> None:
    load_data(conn)
    wconn.execute(
        "UPDATE mlops.dedup_rules SET exact_key = 'ws.set_path(t.url)' WHERE target = %s::regclass", (LETTERS,)
    )
    (path,) = conn.execute("SHOW search_path").fetchone()
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        conn.execute("SELECT * FROM mlops.find_duplicates(%s)", (LETTERS,))
    assert "its evaluator changed the session's state" in str(exc.value)
    assert conn.execute("SHOW search_path").fetchone() == (path,)


def test_superuser_rule_may_not_call_a_function_of_a_less_privileged_role(
    conn: psycopg.Connection, wconn: psycopg.Connection
) -> None:
    # the trojan: a superuser (or the installer compiling old rules) writing text that calls the writer's code
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        conn.execute("UPDATE mlops.dedup_rules SET exact_key = 'ws.key(t.url)' WHERE target = %s::regclass", (LETTERS,))
    assert "calls ws.key(text), owned by" in str(exc.value)
    assert calls(conn) == []


# ------------------------------------------------------------------ temporary functions


def test_writers_function_in_pg_temp_is_refused(wconn: psycopg.Connection, conn: psycopg.Connection) -> None:
    old = rule(conn, LETTERS)
    wconn.execute("CREATE FUNCTION pg_temp.k(p_url text) RETURNS text LANGUAGE sql IMMUTABLE RETURN lower(p_url)")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        wconn.execute(
            "UPDATE mlops.dedup_rules SET exact_key = 'pg_temp.k(t.url)' WHERE target = %s::regclass", (LETTERS,)
        )
    assert "a function in a temporary schema" in str(exc.value)
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'k(t.url)' WHERE target = %s::regclass", (LETTERS,))
    assert "exact_key does not compile: function k(text) does not exist" in str(exc.value)
    assert "qualify your own functions with their schema" in exc.value.diag.message_hint
    assert rule(conn, LETTERS) == old
    wconn.execute("DROP FUNCTION pg_temp.k(text)")  # now, not while the session ends, racing the role's drop


# ------------------------------------------------------------------ text that closes the expression

CLOSING = {
    "statements": "t.url) FROM mlops.cover_letter_samples AS t; DELETE FROM mlops.job_postings; SELECT (1",
    "more columns": "t.url)::text, (SELECT count(*) FROM mlops.job_postings)::text, (NULL",
    "comment": "t.url)::text, (SELECT min(p.url) FROM mlops.job_postings AS p)::text, NULL)::mlops.dedup_rule_values"
    " --",
    "dollar quotes": "$q$ $q$ || (SELECT min(p.url) FROM mlops.job_postings AS p) || $q$",
    "dollar-quoted semicolon": "$q$x$q$) FROM mlops.job_postings AS t; DELETE FROM mlops.job_postings; SELECT ($q$;$q$",
    "escaped quote": "E'\\'' || (SELECT min(p.url) FROM mlops.job_postings AS p) || E'\\''",
    "escaped quote, statements": "E'\\'') FROM mlops.job_postings; DELETE FROM mlops.job_postings; SELECT (E'\\''",
}


@pytest.mark.parametrize("part", ["exact_key", "similar_text", "block_key", "keep_order"])
@pytest.mark.parametrize("payload", list(CLOSING.values()), ids=list(CLOSING))
def test_text_that_closes_the_expression_is_refused_when_written(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str, part: str, payload: str
) -> None:
    load_data(conn)
    postings = snapshot(conn, (POSTINGS, LETTERS))
    old, functions, before = rule(conn, POSTINGS), evaluators(conn), rights(conn, writer)
    with pytest.raises(psycopg.Error) as exc:
        wconn.execute(f"UPDATE mlops.dedup_rules SET {part} = %s WHERE target = %s::regclass", (payload, POSTINGS))
    assert exc.value.sqlstate == "22023"
    assert f"dedup rule for {POSTINGS}: {part} " in str(exc.value)
    assert snapshot(conn, (POSTINGS, LETTERS)) == postings
    assert rule(conn, POSTINGS) == old
    assert evaluators(conn) == functions
    assert rights(conn, writer) == before
    assert calls(conn) == []


# ------------------------------------------------------------------ subqueries and other relations


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("(SELECT max(p.url) FROM mlops.job_postings AS p)", "exact_key contains a subquery"),
        ("t.url || EXISTS (SELECT FROM mlops.job_postings)", "exact_key contains a subquery"),
        ("t.url || 'mlops.job_postings'::regclass::text", "refers to relation mlops.job_postings"),
        ("table_to_xml('mlops.job_postings', true, false, '')::text", "which reads whole relations"),
        ("count(*)::text", "exact_key contains an aggregate"),
        ("random()::text", "exact_key calls volatile function random()"),
        ("(mlops_rules.{evaluator}(t)).ekey", "the evaluator of a rule"),
    ],
)
def test_expressions_that_read_beyond_the_row_are_refused(
    wconn: psycopg.Connection, conn: psycopg.Connection, expression: str, message: str
) -> None:
    old = rule(conn, LETTERS)
    expression = expression.format(evaluator=old[5].split("(")[0].removeprefix("mlops_rules."))
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        wconn.execute("UPDATE mlops.dedup_rules SET exact_key = %s WHERE target = %s::regclass", (expression, LETTERS))
    assert message in str(exc.value)
    assert rule(conn, LETTERS) == old


# ------------------------------------------------------------------ rule_owner and evaluator are not the writer's


def test_writer_cannot_choose_rule_owner_or_evaluator(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    superuser, superusers_evaluator = rule(conn, LETTERS)[4:]
    wconn.execute("DELETE FROM mlops.dedup_rules WHERE target = %s::regclass", (POSTINGS,))
    wconn.execute(
        "INSERT INTO mlops.dedup_rules (target, exact_key, rule_owner, evaluator) VALUES (%s, 'lower(t.url)', %s, %s)",
        (POSTINGS, superuser, superusers_evaluator),
    )
    first = rule(conn, POSTINGS)
    wconn.execute("UPDATE mlops.dedup_rules SET rule_owner = %s WHERE target = %s::regclass", (superuser, POSTINGS))
    second = rule(conn, POSTINGS)
    wconn.execute(
        "UPDATE mlops.dedup_rules SET evaluator = %s WHERE target = %s::regclass", (superusers_evaluator, POSTINGS)
    )
    third = rule(conn, POSTINGS)

    owned = dict(evaluators(conn))
    for got in (first, second, third):
        assert got[4] == writer
        assert got[5] != superusers_evaluator
    assert owned[third[5]] == writer
    assert first[5] not in owned and second[5] not in owned  # replaced evaluators are dropped


def test_threshold_update_keeps_owner_and_evaluator(conn: psycopg.Connection, wconn: psycopg.Connection) -> None:
    old = rule(conn, LETTERS)
    wconn.execute(
        "UPDATE mlops.dedup_rules SET threshold = 0.9, enabled = false WHERE target = %s::regclass", (LETTERS,)
    )
    assert rule(conn, LETTERS) == old


# ------------------------------------------------------------------ checked again before every run


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            "CREATE OR REPLACE FUNCTION {fn} RETURNS mlops.dedup_rule_values LANGUAGE sql STABLE SECURITY INVOKER"
            " RETURN ROW(t.url, NULL, NULL, NULL)::mlops.dedup_rule_values",
            "is not SECURITY DEFINER",
        ),
        (
            "CREATE OR REPLACE FUNCTION {fn} RETURNS mlops.dedup_rule_values LANGUAGE plpgsql STABLE SECURITY DEFINER"
            " AS $$ BEGIN PERFORM ws.grab(); RETURN ROW(t.url, NULL, NULL, NULL); END $$",
            "is not a SQL function with a SQL-standard body",
        ),
        ("ALTER FUNCTION {fn} VOLATILE", "is not STABLE"),
        ("ALTER FUNCTION {fn} SET search_path = ws", "sets configuration parameters"),
        ("ALTER FUNCTION ws.key(text) VOLATILE", "calls volatile function ws.key(text)"),
    ],
)
def test_evaluator_changed_after_it_was_compiled_is_refused_at_run_time(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str, tamper: str, message: str
) -> None:
    """Where the event trigger that keeps evaluators from changing is missing (an install by a non-superuser), the
    check before each run still refuses a changed evaluator."""
    conn.execute("ALTER EVENT TRIGGER mlops_dedup_guard_evaluators DISABLE")
    load_data(conn)
    wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'ws.key(t.url)' WHERE target = %s::regclass", (LETTERS,))
    (fn,) = conn.execute(
        "SELECT replace(evaluator::text, '(', '(t ') FROM mlops.dedup_rules WHERE target = %s::regclass", (LETTERS,)
    ).fetchone()
    wconn.execute(tamper.format(fn=fn))
    conn.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (writer,))
    for session, call in (
        (conn, f"SELECT * FROM mlops.find_duplicates('{LETTERS}')"),
        (wconn, f"CALL mlops.merge_duplicates('{LETTERS}')"),  # (a superuser's merge is refused before: see above)
    ):
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
            session.execute(call)
        assert f"dedup rule for {LETTERS} cannot run: " in str(exc.value)
        assert message in str(exc.value)
        assert "UPDATE mlops.dedup_rules SET exact_key = exact_key" in exc.value.diag.message_hint
    assert calls(conn) == []
    assert conn.execute("SELECT count(*) FROM mlops.merges").fetchone() == (0,)


@pytest.mark.parametrize(
    "tamper",
    [
        "CREATE OR REPLACE FUNCTION {fn} RETURNS mlops.dedup_rule_values LANGUAGE plpgsql STABLE SECURITY INVOKER"
        " AS $$ BEGIN PERFORM ws.grab(); RETURN ROW(t.url, NULL, NULL, NULL); END $$",
        "ALTER FUNCTION {fn} SECURITY INVOKER",
        "ALTER FUNCTION {fn} SET SCHEMA ws",
        "ALTER ROUTINE {fn} RENAME TO e_other",
    ],
)
def test_evaluator_in_use_cannot_be_changed_in_place(
    conn: psycopg.Connection, wconn: psycopg.Connection, tamper: str
) -> None:
    """The race the run-time check alone leaves open: a writer changing its evaluator between detection's check and
    its call. The event trigger refuses the change itself."""
    wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'ws.key(t.url)' WHERE target = %s::regclass", (LETTERS,))
    (fn, evaluator) = conn.execute(
        "SELECT replace(evaluator::text, '(', '(t '), evaluator::oid FROM mlops.dedup_rules"
        " WHERE target = %s::regclass",
        (LETTERS,),
    ).fetchone()
    before = conn.execute("SELECT pg_get_functiondef(%s::oid), prosecdef FROM pg_proc WHERE oid = %s", (evaluator,) * 2)
    before = before.fetchone()
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        wconn.execute(tamper.format(fn=fn))
    assert f"is the evaluator of the dedup rule for {LETTERS}; it is never changed in place" in str(exc.value)
    after = conn.execute("SELECT pg_get_functiondef(%s::oid), prosecdef FROM pg_proc WHERE oid = %s", (evaluator,) * 2)
    assert after.fetchone() == before


def test_rule_owner_that_lost_select_is_refused_at_run_time(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'lower(t.url)' WHERE target = %s::regclass", (LETTERS,))
    conn.execute(f"REVOKE SELECT ON {LETTERS} FROM {writer}")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT * FROM mlops.find_duplicates(%s)", (LETTERS,))
    assert f"its owner {writer} may no longer SELECT from {LETTERS}" in str(exc.value)


def test_rewriting_a_refused_rule_as_the_hint_says_compiles_it_again(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    conn.execute("ALTER EVENT TRIGGER mlops_dedup_guard_evaluators DISABLE")  # as in an install without a superuser
    load_data(conn)
    wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'lower(t.url)' WHERE target = %s::regclass", (LETTERS,))
    (tampered,) = conn.execute(
        "SELECT evaluator::text FROM mlops.dedup_rules WHERE target = %s::regclass", (LETTERS,)
    ).fetchone()
    wconn.execute(f"ALTER FUNCTION {tampered} VOLATILE")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT * FROM mlops.find_duplicates(%s)", (LETTERS,))
    wconn.execute(exc.value.diag.message_hint.split(": ", 1)[1])  # UPDATE ... SET exact_key = exact_key ...
    assert rule(conn, LETTERS)[4:] != (writer, tampered)
    assert rule(conn, LETTERS)[4] == writer
    assert conn.execute("SELECT survivor_id, member_id FROM mlops.find_duplicates(%s)", (LETTERS,)).fetchall() == [
        (1, 2),
        (1, 3),
    ]


def test_writer_without_select_or_under_row_security_is_refused(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    conn.execute(f"REVOKE SELECT ON {POSTINGS} FROM {writer}")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        wconn.execute(
            "UPDATE mlops.dedup_rules SET exact_key = 'lower(t.url)' WHERE target = %s::regclass", (POSTINGS,)
        )
    assert f"role {writer} may not SELECT from it" in str(exc.value)
    conn.execute(f"ALTER TABLE {LETTERS} ENABLE ROW LEVEL SECURITY")
    conn.execute(f"CREATE POLICY only_some ON {LETTERS} USING (id < 100)")
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'lower(t.url)' WHERE target = %s::regclass", (LETTERS,))
    assert "row-level security on it applies to role" in str(exc.value)


def test_rule_on_a_package_table_is_refused(wconn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        wconn.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('mlops.merges', 't.reason')")
    assert "is a table of the mlops-dedup package" in str(exc.value)


# ------------------------------------------------------------------ what keeps working


def test_writers_rule_on_its_own_table_detects_and_merges(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    conn.execute(
        f"""
        CREATE TABLE public.people (id serial PRIMARY KEY, email text, name text);
        INSERT INTO public.people (email, name) VALUES ('A@x.org', 'Ann'), ('a@X.org', 'Ann B'), ('b@x.org', 'Bob');
        GRANT SELECT, UPDATE, DELETE ON public.people TO {writer};
        """
    )
    wconn.execute(
        "INSERT INTO mlops.dedup_rules (target, exact_key, keep_order)"
        " VALUES ('public.people', 'lower(t.email)', 't.id')"
    )
    assert conn.execute("SELECT survivor_id, member_id FROM mlops.find_duplicates('public.people')").fetchall() == [
        (1, 2)
    ]
    conn.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (writer,))
    wconn.execute("CALL mlops.merge_duplicates('public.people')")  # by the writer: its rule, its rights
    assert conn.execute("SELECT id FROM public.people ORDER BY id").fetchall() == [(1,), (3,)]
    assert conn.execute(
        "SELECT exact_key_duplicate_groups FROM mlops.data_quality_report() WHERE target = 'public.people'::regclass"
    ).fetchone() == (0,)


def test_platform_rules_are_compiled_and_keep_working(conn: psycopg.Connection) -> None:
    load_data(conn)
    for target in (LETTERS, POSTINGS):
        owner, evaluator = rule(conn, target)[4:]
        assert owner == conn.execute("SELECT current_user").fetchone()[0]
        assert evaluator.startswith("mlops_rules.e")
    assert conn.execute(
        "SELECT survivor_id, member_id, reason FROM mlops.find_duplicates(%s) ORDER BY member_id", (LETTERS,)
    ).fetchall() == [(1, 2, "exact_key"), (1, 3, "similar_text")]


def test_writer_may_use_normalize_url_and_a_strict_keep_order(
    conn: psycopg.Connection, wconn: psycopg.Connection
) -> None:
    load_data(conn)
    conn.execute("UPDATE mlops.cover_letter_samples SET url = 'https://www.l.example.com/a/?utm_source=x' WHERE id = 2")
    wconn.execute(
        "UPDATE mlops.dedup_rules SET exact_key = 'mlops.normalize_url(t.url)', similar_text = NULL,"
        " keep_order = 't.id DESC NULLS LAST' WHERE target = %s::regclass",
        (LETTERS,),
    )
    assert conn.execute(
        "SELECT survivor_id, member_id, reason FROM mlops.find_duplicates(%s)", (LETTERS,)
    ).fetchall() == [(2, 1, "exact_key")]


def test_deleting_a_rule_drops_its_evaluator(conn: psycopg.Connection, wconn: psycopg.Connection) -> None:
    wconn.execute("UPDATE mlops.dedup_rules SET exact_key = 'lower(t.url)' WHERE target = %s::regclass", (POSTINGS,))
    evaluator = rule(conn, POSTINGS)[5]
    wconn.execute("DELETE FROM mlops.dedup_rules WHERE target = %s::regclass", (POSTINGS,))
    assert evaluator not in dict(evaluators(conn))


# ------------------------------------------------------------------ a rule lends no rights to delete or re-point


def test_writer_without_the_rights_a_merge_uses_is_refused(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    """A rule makes the runner delete the table's rows and re-point their references: a writer that may only read
    them must not be able to have them merged by someone who may."""
    conn.execute(
        f"""
        CREATE TABLE public.accounts (id serial PRIMARY KEY, email text);
        CREATE TABLE public.orders (id serial PRIMARY KEY, account_id int REFERENCES public.accounts);
        INSERT INTO public.accounts (email) VALUES ('a@x.org'), ('A@x.org');
        GRANT SELECT ON public.accounts, public.orders TO {writer};
        GRANT UPDATE ON public.accounts TO {writer};
        """
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        wconn.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('public.accounts', 'lower(t.email)')")
    assert (
        f"dedup rule for public.accounts: role {writer} lacks rights a merge of it uses: "
        "DELETE ON public.accounts, UPDATE ON public.orders" in str(exc.value)
    )
    assert conn.execute(
        "SELECT count(*) FROM mlops.dedup_rules WHERE target = 'public.accounts'::regclass"
    ).fetchone() == (0,)


def test_rule_whose_owner_lost_a_right_a_merge_uses_does_not_run(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    conn.execute(
        f"""
        CREATE TABLE public.accounts (id serial PRIMARY KEY, email text);
        INSERT INTO public.accounts (email) VALUES ('a@x.org'), ('A@x.org');
        GRANT SELECT, UPDATE, DELETE ON public.accounts TO {writer};
        """
    )
    wconn.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('public.accounts', 'lower(t.email)')")
    conn.execute(f"REVOKE DELETE ON public.accounts FROM {writer}")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT * FROM mlops.find_duplicates('public.accounts')")
    assert f"its owner {writer} lacks rights a merge of it uses: DELETE ON public.accounts" in str(exc.value)
    assert conn.execute("SELECT count(*) FROM public.accounts").fetchone() == (2,)


def test_a_writer_cannot_change_or_delete_another_owners_rule(
    conn: psycopg.Connection, wconn: psycopg.Connection, writer: str
) -> None:
    """Lowering another rule's thresholds (or turning its soft delete off) would have whoever runs it merge rows of
    a table the writer has no rights on: a rule is changed or deleted by its owner only (row-level security)."""
    conn.execute(
        "CREATE TABLE public.victims (id serial PRIMARY KEY, name text);"
        " INSERT INTO mlops.dedup_rules (target, similar_text, threshold, review_threshold)"
        " VALUES ('public.victims', 't.name', 0.99, 0.9)"
    )
    before = rule(conn, "public.victims")
    changed = wconn.execute(
        "UPDATE mlops.dedup_rules SET threshold = 0.01, review_threshold = 0.01"
        " WHERE target = 'public.victims'::regclass"
    ).rowcount
    deleted = wconn.execute("DELETE FROM mlops.dedup_rules WHERE target = 'public.victims'::regclass").rowcount
    assert (changed, deleted) == (0, 0)
    assert rule(conn, "public.victims") == before
    # its own rules it changes as before
    assert (
        wconn.execute("UPDATE mlops.dedup_rules SET threshold = 0.9 WHERE target = %s::regclass", (LETTERS,)).rowcount
        == 1
    )
