"""Schemas and situations a new user tried (issue 8's fresh-user review): columns named like the merge's own aliases,
FKs to extension-type keys, fill through self references, user triggers under fill, rules, survivors in inheritance
children, ids reused before undo, combined values that do not fit, survivors merged away meanwhile. Each either
merges with nothing lost and undoes exactly, or is refused with a clear error and nothing changed."""

import threading
import time

import psycopg
import pytest
from helpers import snapshot
from psycopg.conninfo import make_conninfo


def rows(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(f"SELECT row_to_json(w.*)::text FROM {table} AS w ORDER BY 1").fetchall()]


def merge_log(conn: psycopg.Connection) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM mlops.merges), (SELECT count(*) FROM mlops.merge_archive),"
        " (SELECT count(*) FROM mlops.merge_moves)"
    ).fetchone()


def test_columns_named_like_the_merges_aliases_are_archived_whole_and_undone_exactly(
    conn: psycopg.Connection,
) -> None:
    """A column t on the target, r on referencing tables: to_jsonb(t) would archive that column, not the row."""
    conn.execute(
        """
        CREATE TABLE public.contact (id int PRIMARY KEY, t text, email text);
        INSERT INTO public.contact VALUES (1, 'home', 'a@x'), (2, 'work', 'b@x');
        CREATE TABLE public.link (a int REFERENCES public.contact, b int REFERENCES public.contact, r int,
            UNIQUE (a, b), CHECK (a <> b));
        INSERT INTO public.link VALUES (1, 2, 10), (2, 1, 20);
        CREATE TABLE public.tagging (id int PRIMARY KEY, cid int REFERENCES public.contact, tag text, t text,
            UNIQUE (cid, tag));
        INSERT INTO public.tagging VALUES (1, 1, 'vip', 'one'), (2, 2, 'vip', 'two');
        CREATE TABLE public.visit (cid int REFERENCES public.contact, r int, note text);
        INSERT INTO public.visit VALUES (1, 5, 'v1'), (2, 5, 'v2'), (2, 6, 'v3');
        """
    )
    tables = ("public.contact", "public.link", "public.tagging", "public.visit")
    before = {t: rows(conn, t) for t in tables}
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.contact', 1, ARRAY[2]::bigint[])").fetchone()
    archived = conn.execute("SELECT row_data FROM mlops.merge_archive ORDER BY archive_id").fetchall()
    assert all(isinstance(data, dict) for (data,) in archived), archived
    assert {"id": 2, "t": "work", "email": "b@x"} in [data for (data,) in archived]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert {t: rows(conn, t) for t in tables} == before


CITEXT = """
CREATE EXTENSION IF NOT EXISTS citext;
CREATE TABLE public.c (id int PRIMARY KEY, email citext UNIQUE);
INSERT INTO public.c VALUES (1, 'a@x.com'), (2, 'b@x.com');
CREATE TABLE public.sub (id int PRIMARY KEY, em citext REFERENCES public.c (email) ON DELETE CASCADE, plan text);
CREATE TABLE public.sub2 (id int PRIMARY KEY, em citext REFERENCES public.c (email) ON DELETE SET NULL, plan text);
CREATE TABLE public.sub3 (id int PRIMARY KEY, em citext REFERENCES public.c (email), plan text);
INSERT INTO public.sub VALUES (1, 'a@x.com', 'gold'), (2, 'B@X.COM', 'silver'), (3, 'b@x.com', 'bronze');
INSERT INTO public.sub2 VALUES (1, 'B@x.com', 'x');
INSERT INTO public.sub3 VALUES (1, 'b@X.com', 'y');
"""


def test_references_to_a_citext_key_match_as_the_fk_does_and_move(conn: psycopg.Connection) -> None:
    """The FK matches 'B@X.COM' to 'b@x.com' with citext's own =: so does the merge; nothing cascaded or nulled."""
    conn.execute(CITEXT)
    tables = ("public.c", "public.sub", "public.sub2", "public.sub3")
    before = {t: rows(conn, t) for t in tables}
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.c', 1, ARRAY[2]::bigint[])").fetchone()
    assert conn.execute("SELECT id, em::text FROM public.sub ORDER BY id").fetchall() == [
        (1, "a@x.com"),
        (2, "a@x.com"),
        (3, "a@x.com"),
    ]
    assert conn.execute("SELECT em::text FROM public.sub2").fetchall() == [("a@x.com",)]
    assert conn.execute("SELECT em::text FROM public.sub3").fetchall() == [("a@x.com",)]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    # undo points them back at the loser's value (its own spelling, as the FK compares case-insensitively)
    assert conn.execute("SELECT count(*) FROM public.sub WHERE em = 'b@x.com'").fetchone() == (2,)
    assert [r.lower() for r in rows(conn, "public.sub")] == [r.lower() for r in before["public.sub"]]
    assert rows(conn, "public.c") == before["public.c"]


def test_fill_never_makes_a_survivor_reference_itself_or_a_loser(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.staff (id int PRIMARY KEY, name text, boss int REFERENCES public.staff,
            mentor int REFERENCES public.staff);
        INSERT INTO public.staff VALUES (1, 'a', NULL, NULL), (2, 'b', 1, NULL), (3, 'c', 2, 3), (4, 'd', 1, NULL),
            (5, 'e', NULL, NULL), (6, 'f', 5, 4);
        """
    )
    before = rows(conn, "public.staff")
    (merge_id,) = conn.execute(
        "SELECT mlops.merge_rows('public.staff', 1, ARRAY[2, 3]::bigint[], p_fill_nulls => true)"
    ).fetchone()
    assert conn.execute("SELECT boss, mentor FROM public.staff WHERE id = 1").fetchone() == (None, None)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(conn, "public.staff") == before
    # a value that is neither the survivor nor a loser is filled as usual
    conn.execute("SELECT mlops.merge_rows('public.staff', 5, ARRAY[6]::bigint[], p_fill_nulls => true)")
    assert conn.execute("SELECT boss, mentor FROM public.staff WHERE id = 5").fetchone() == (None, 4)


def test_fill_runs_the_targets_before_triggers_under_the_callers_path(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """
            CREATE SCHEMA app;
            CREATE TABLE app.cust (id int PRIMARY KEY, name text);
            CREATE TABLE app.audit_log (tg text);
            CREATE FUNCTION app.audit() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN INSERT INTO audit_log VALUES (TG_NAME || ' ' || TG_LEVEL); RETURN NEW; END $$;
            CREATE TRIGGER b BEFORE UPDATE ON app.cust FOR EACH ROW EXECUTE FUNCTION app.audit();
            CREATE TRIGGER s BEFORE UPDATE ON app.cust FOR EACH STATEMENT EXECUTE FUNCTION app.audit();
            INSERT INTO app.cust VALUES (1, NULL), (2, 'b');
            """
        )
    with psycopg.connect(make_conninfo(dsn, options="-c search_path=app,public"), autocommit=True) as conn:
        conn.execute("SELECT mlops.merge_rows('cust', 1, ARRAY[2]::bigint[], p_fill_nulls => true)")
        assert conn.execute("SELECT name FROM cust WHERE id = 1").fetchone() == ("b",)
        assert sorted(r[0] for r in conn.execute("SELECT tg FROM audit_log").fetchall()) == ["b ROW", "s STATEMENT"]


def test_a_table_with_rules_is_refused_before_anything_changes(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.cust (id int PRIMARY KEY);
        CREATE TABLE public.ord (id int PRIMARY KEY, cust_id int REFERENCES public.cust);
        CREATE TABLE public.ord_log (id int);
        INSERT INTO public.cust VALUES (1), (2); INSERT INTO public.ord VALUES (10, 2);
        CREATE RULE ord_log AS ON UPDATE TO public.ord DO ALSO INSERT INTO public.ord_log VALUES (NEW.id);
        """
    )
    before = snapshot(conn, ("public.cust", "public.ord", "public.ord_log"))
    with pytest.raises(psycopg.errors.FeatureNotSupported) as exc:
        conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[])")
    assert exc.value.diag.message_primary == "cannot merge through public.ord: it has rule(s) ord_log (ON UPDATE)"
    assert "trigger" in exc.value.diag.message_hint
    assert snapshot(conn, ("public.cust", "public.ord", "public.ord_log")) == before
    assert merge_log(conn) == (0, 0, 0)


def test_a_survivor_in_an_inheritance_child_is_refused(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.acct (id int PRIMARY KEY, name text);
        CREATE TABLE public.acct_vip (level int) INHERITS (public.acct);
        CREATE TABLE public.post (pid int PRIMARY KEY, aid int REFERENCES public.acct);
        INSERT INTO public.acct VALUES (1, 'one'); INSERT INTO public.acct_vip VALUES (6, 'vip', 9);
        INSERT INTO public.post VALUES (1, 1);
        """
    )
    with pytest.raises(psycopg.errors.FeatureNotSupported) as exc:
        conn.execute("SELECT mlops.merge_rows('public.acct', 6, ARRAY[1]::bigint[])")
    assert "cannot merge into rows 6 of public.acct: they live in an inheritance child" in str(exc.value)
    assert conn.execute("SELECT aid FROM public.post").fetchall() == [(1,)]
    assert merge_log(conn) == (0, 0, 0)


def test_undo_after_a_merged_rows_id_was_reused_names_the_row_and_changes_nothing(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.c (id int PRIMARY KEY, email text UNIQUE);
        INSERT INTO public.c VALUES (1, 'a'), (2, 'b');
        """
    )
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.c', 1, ARRAY[2]::bigint[])").fetchone()
    conn.execute("INSERT INTO public.c VALUES (5, 'b')")
    before = rows(conn, "public.c")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert str(exc.value.diag.message_primary).startswith(
        f"cannot undo merge {merge_id}: a row of public.c written since the merge holds a value of a merged row"
    )
    assert "reused" in exc.value.diag.message_hint
    assert rows(conn, "public.c") == before


def test_combined_values_that_do_not_fit_are_refused_naming_the_policy(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.product (id int PRIMARY KEY);
        CREATE TABLE public.line (id int PRIMARY KEY, product_id int REFERENCES public.product, order_id int,
            qty int, UNIQUE (order_id, product_id));
        INSERT INTO public.product VALUES (1), (2);
        INSERT INTO public.line VALUES (1, 1, 7, 2147483647), (2, 2, 7, 2147483647);
        INSERT INTO mlops.conflict_policies (referencing_table, action, combine)
            VALUES ('public.line', 'combine', '{"qty": "sum"}');
        """
    )
    before = snapshot(conn, ("public.product", "public.line"))
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as exc:
        conn.execute("SELECT mlops.merge_rows('public.product', 1, ARRAY[2]::bigint[])")
    assert "the combined values of colliding rows of public.line do not fit" in str(exc.value)
    assert "mlops.conflict_policies" in exc.value.diag.message_hint
    assert snapshot(conn, ("public.product", "public.line")) == before


def test_combine_fill_takes_an_array_column_whole(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.cust (id int PRIMARY KEY); INSERT INTO public.cust VALUES (1), (2);
        CREATE TABLE public.line (id int PRIMARY KEY, cust_id int REFERENCES public.cust, item text, tags text[],
            UNIQUE (cust_id, item));
        INSERT INTO public.line VALUES (1, 1, 'x', NULL), (2, 2, 'x', '{a,b}');
        INSERT INTO mlops.conflict_policies VALUES ('public.line', 'combine', '{"tags": "fill"}');
        """
    )
    before = rows(conn, "public.line")
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[])").fetchone()
    assert conn.execute("SELECT id, tags FROM public.line").fetchall() == [(1, ["a", "b"])]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(conn, "public.line") == before


def test_a_survivor_merged_away_meanwhile_names_where_it_lives_now(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.c (id int PRIMARY KEY); INSERT INTO public.c VALUES (1), (2), (3)")
    conn.execute("SELECT mlops.merge_rows('public.c', 1, ARRAY[2]::bigint[])")
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.merge_rows('public.c', 2, ARRAY[3]::bigint[])")
    assert exc.value.diag.message_primary == "survivor 2 of public.c was already merged into 1 (merge 1)"
    assert "resolve_id" in exc.value.diag.message_hint


def test_undo_of_combine_names_the_twins_columns_changed_since(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.product (id int PRIMARY KEY);
        CREATE TABLE public.line (id int PRIMARY KEY, product_id int REFERENCES public.product, order_id int,
            qty int, note text, UNIQUE (order_id, product_id));
        INSERT INTO public.product VALUES (1), (78);
        INSERT INTO public.line VALUES (1, 1, 10285, 45, 'a'), (2, 78, 10285, 10, 'b');
        INSERT INTO mlops.conflict_policies (referencing_table, action, combine)
            VALUES ('public.line', 'combine', '{"qty": "sum", "note": "concat"}');
        """
    )
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.product', 1, ARRAY[78]::bigint[])").fetchone()
    assert conn.execute("SELECT qty, note FROM public.line WHERE id = 1").fetchone() == (55, "a\nb")
    conn.execute("UPDATE public.line SET qty = 60 WHERE id = 1")
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute("SELECT id, product_id, qty, note FROM public.line ORDER BY id").fetchall() == [
        (1, 1, 60, "a"),
        (2, 78, 10, "b"),
    ]
    assert any("column(s) qty of row" in n and "changed since and keep their values" in n for n in notices), notices


def test_a_row_the_application_revived_keeps_its_new_references(conn: psycopg.Connection) -> None:
    """deleted_at cleared by the application (merged_into left set): it is live again, references to it stay."""
    conn.execute(
        """
        CREATE TABLE public.cust (id int PRIMARY KEY, deleted_at timestamptz, merged_into bigint);
        CREATE TABLE public.ord (id int PRIMARY KEY, cust_id int REFERENCES public.cust);
        INSERT INTO public.cust (id) VALUES (1), (51);
        """
    )
    conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[51]::bigint[], p_soft_delete => true)")
    conn.execute("UPDATE public.cust SET deleted_at = NULL WHERE id = 51")
    conn.execute("INSERT INTO public.ord VALUES (100, 51)")
    assert conn.execute("SELECT mlops.merge_repoint_stale('public.cust')").fetchone() == (0,)
    assert conn.execute("SELECT cust_id FROM public.ord").fetchall() == [(51,)]


def test_undo_refuses_to_clear_a_filled_key_that_rows_written_since_reference(conn: psycopg.Connection) -> None:
    """fill_nulls gave the survivor the loser's handle; a post written since references it: clearing it on undo
    would set the post's author to NULL (ON UPDATE CASCADE / SET NULL) — refused, nothing changed."""
    conn.execute(
        """
        CREATE TABLE public.acct (id int PRIMARY KEY, handle text UNIQUE, name text);
        CREATE TABLE public.post (id int PRIMARY KEY,
            author text REFERENCES public.acct (handle) ON UPDATE CASCADE, body text);
        INSERT INTO public.acct VALUES (1, NULL, 'Bob'), (2, 'bob', 'Bob');
        """
    )
    (merge_id,) = conn.execute(
        "SELECT mlops.merge_rows('public.acct', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
    ).fetchone()
    assert conn.execute("SELECT handle FROM public.acct").fetchall() == [("bob",)]
    conn.execute("INSERT INTO public.post VALUES (1, 'bob', 'after the merge')")
    before = snapshot(conn, ("public.acct", "public.post"))
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert "1 row(s) of public.post reference the survivor's handle" in str(exc.value)
    assert snapshot(conn, ("public.acct", "public.post")) == before


def test_a_twin_updated_by_another_transaction_is_a_concurrency_failure_not_a_trigger(dsn: str) -> None:
    """combine finds twins by their place; one updated while the merge waited for it is a 40001 to retry."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE public.cust (id int PRIMARY KEY);
            CREATE TABLE public.ord (id int PRIMARY KEY, cid int REFERENCES public.cust, item text, qty int,
                UNIQUE (cid, item));
            INSERT INTO public.cust VALUES (1), (2);
            INSERT INTO public.ord VALUES (1, 1, 'x', 10), (2, 2, 'x', 5);
            INSERT INTO mlops.conflict_policies VALUES ('public.ord', 'combine', '{"qty": "sum"}');
            """
        )
    app = psycopg.connect(dsn)
    app.execute("UPDATE public.ord SET qty = qty + 1 WHERE id = 1")
    merger = psycopg.connect(dsn, autocommit=True)
    failure: list[BaseException] = []

    def merge() -> None:
        try:
            merger.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[])")
        except psycopg.Error as exc:
            failure.append(exc)

    thread = threading.Thread(target=merge)
    thread.start()
    with psycopg.connect(dsn, autocommit=True) as watcher:
        deadline = time.monotonic() + 30
        while not watcher.execute(
            "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (merger.info.backend_pid, [app.info.backend_pid])
        ).fetchone()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.005)
    app.commit()
    thread.join(30)
    app.close()
    merger.close()
    assert [type(e) for e in failure] == [psycopg.errors.SerializationFailure]
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT id, cid, qty FROM public.ord ORDER BY id").fetchall() == [(1, 1, 11), (2, 2, 5)]
        assert merge_log(conn) == (0, 0, 0)


def test_fill_works_on_a_table_of_200_columns(conn: psycopg.Connection) -> None:
    columns = ", ".join(f"c{i} int" for i in range(200))
    conn.execute(f"CREATE TABLE public.wide (id int PRIMARY KEY, {columns})")
    conn.execute("INSERT INTO public.wide (id) VALUES (1)")
    conn.execute(f"INSERT INTO public.wide VALUES (2, {', '.join(str(i) for i in range(200))})")
    before = rows(conn, "public.wide")
    (merge_id,) = conn.execute(
        "SELECT mlops.merge_rows('public.wide', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
    ).fetchone()
    assert conn.execute("SELECT c0, c117, c199 FROM public.wide WHERE id = 1").fetchone() == (0, 117, 199)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(conn, "public.wide") == before


def test_a_rule_whose_table_was_dropped_is_passed_over(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.gone (id int PRIMARY KEY, email text);
        INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('public.gone', 't.email');
        DROP TABLE public.gone CASCADE;
        """
    )
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute("CALL mlops.merge_duplicates()")
    assert any("no longer exists; the rule is passed over" in n for n in notices), notices
    assert conn.execute("SELECT count(*) FROM mlops.data_quality").fetchone()[0] >= 1
    assert conn.execute("SELECT count(*) FROM mlops.dedup_runs WHERE status = 'failed'").fetchone() == (0,)


def test_undo_of_a_soft_delete_merge_over_a_row_written_since_is_refused_clearly(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.cust (id int PRIMARY KEY, deleted_at timestamptz, merged_into bigint);
        CREATE TABLE public.ord (id int PRIMARY KEY, cid int REFERENCES public.cust, item text, UNIQUE (cid, item));
        INSERT INTO public.cust (id) VALUES (1), (2);
        INSERT INTO public.ord VALUES (1, 2, 'y');
        """
    )
    (merge_id,) = conn.execute(
        "SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[], p_soft_delete => true)"
    ).fetchone()
    conn.execute("INSERT INTO public.ord VALUES (10, 2, 'y')")  # the loser still exists (soft-deleted)
    before = snapshot(conn, ("public.cust", "public.ord"))
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert "rows of public.ord moved by the merge cannot point back at their loser" in str(exc.value)
    assert snapshot(conn, ("public.cust", "public.ord")) == before


def test_undo_over_a_row_deleted_since_that_an_archived_row_references_is_refused_clearly(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        """
        CREATE TABLE public.product (id int PRIMARY KEY);
        CREATE TABLE public.cust (id int PRIMARY KEY, fav int REFERENCES public.product);
        INSERT INTO public.product VALUES (1), (2); INSERT INTO public.cust VALUES (1, 1), (2, 2);
        """
    )
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[])").fetchone()
    conn.execute("DELETE FROM public.product WHERE id = 2")  # the merge made this delete possible
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert "references a row deleted since" in str(exc.value)
    assert conn.execute("SELECT id FROM public.cust").fetchall() == [(1,)]


def test_a_survivor_value_the_referencing_column_cannot_hold_is_refused_up_front(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE DOMAIN public.small_id AS int CHECK (VALUE < 3);
        CREATE TABLE public.k (id bigint PRIMARY KEY);
        CREATE TABLE public.narrow (id int PRIMARY KEY, k_id int REFERENCES public.k);
        CREATE TABLE public.k2 (id int PRIMARY KEY);
        CREATE TABLE public.dom (id int PRIMARY KEY, k_id public.small_id REFERENCES public.k2);
        INSERT INTO public.k VALUES (1), (3000000000); INSERT INTO public.narrow VALUES (1, 1);
        INSERT INTO public.k2 VALUES (1), (5); INSERT INTO public.dom VALUES (1, 1);
        """
    )
    with pytest.raises(psycopg.errors.NumericValueOutOfRange) as exc:
        conn.execute("SELECT mlops.merge_rows('public.k', 3000000000, ARRAY[1]::bigint[])")
    assert "public.narrow (k_id) cannot hold a survivor's value of id" in str(exc.value)
    with pytest.raises(psycopg.errors.CheckViolation) as exc:
        conn.execute("SELECT mlops.merge_rows('public.k2', 5, ARRAY[1]::bigint[])")
    assert "public.dom (k_id) cannot hold a survivor's value of id" in str(exc.value)
    assert conn.execute("SELECT k_id FROM public.narrow").fetchall() == [(1,)]
    assert merge_log(conn) == (0, 0, 0)


# ---------------------------------------------------------------- from the code review


def test_the_stale_re_point_never_sets_a_reference_to_null(conn: psycopg.Connection) -> None:
    """2 was soft-merged into 1; the application deletes 1, then references 2: nowhere to send it, so it stays."""
    conn.execute(
        """
        CREATE SCHEMA app;
        CREATE TABLE app.cust (id int PRIMARY KEY, email text, deleted_at timestamptz, merged_into bigint);
        CREATE TABLE app.ord (id int PRIMARY KEY, cust_id int REFERENCES app.cust);
        INSERT INTO app.cust (id, email) VALUES (1, 'a@x'), (2, 'a@x');
        INSERT INTO mlops.dedup_rules (target, exact_key, keep_order, soft_delete)
            VALUES ('app.cust', 't.email', 't.id', true);
        """
    )
    conn.execute("CALL mlops.merge_duplicates('app.cust')")
    conn.execute("DELETE FROM app.cust WHERE id = 1")
    conn.execute("INSERT INTO app.ord VALUES (100, 2)")
    conn.execute("CALL mlops.merge_duplicates('app.cust')")
    assert conn.execute("SELECT id, cust_id FROM app.ord").fetchall() == [(100, 2)]
    assert conn.execute("SELECT count(*) FROM mlops.merge_moves").fetchone() == (0,)


def test_a_deferred_constraint_that_fails_is_recorded_and_the_run_finishes(conn: psycopg.Connection) -> None:
    """A deferrable unique key the plan misses (a hierarchy survivor takes its loser's reference) fails inside the
    batch, not at the procedure's COMMIT: the cluster is recorded, the run ends, the advisory lock is free."""
    conn.execute(
        """
        CREATE SCHEMA app;
        CREATE TABLE app.staff (id int PRIMARY KEY, boss int REFERENCES app.staff, name text, code text, prio int,
            CONSTRAINT staff_boss_name_key UNIQUE (boss, name) DEFERRABLE INITIALLY DEFERRED);
        INSERT INTO app.staff VALUES (1, NULL, 'Alice', 'a', 1), (2, 1, 'Bob', 'X', 2), (3, 2, 'Carol', 'X', 1),
            (7, 1, 'Carol', 'c', 1);
        INSERT INTO mlops.dedup_rules (target, exact_key, keep_order) VALUES ('app.staff', 't.code', 't.prio');
        """
    )
    before = rows(conn, "app.staff")
    conn.execute("CALL mlops.merge_duplicates('app.staff')")
    assert conn.execute("SELECT status FROM mlops.dedup_runs").fetchall() == [("partial",)]
    assert conn.execute("SELECT survivor_key, loser_keys, sqlstate FROM mlops.merge_failures").fetchall() == [
        ("3", ["2"], "23505")
    ]
    assert rows(conn, "app.staff") == before
    assert conn.execute(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()"
    ).fetchone() == (0,)


def test_a_collision_between_two_clusters_of_one_batch_is_isolated_by_bisection(conn: psycopg.Connection) -> None:
    """Row 5 moves onto (1, 'x') while row 4 there is a loser of another cluster in the same batch: the batch fails
    as a whole (a unique violation, not a retry-forever 40001), is bisected, and both clusters merge one after the
    other: 5 collides with 4 and is merged into it, then 4 into 6."""
    conn.execute(
        """
        CREATE SCHEMA app;
        CREATE TABLE app.cat (id int PRIMARY KEY, parent_id int REFERENCES app.cat, name text, code text, prio int,
            CONSTRAINT cat_parent_name_key UNIQUE (parent_id, name));
        INSERT INTO app.cat VALUES (1, NULL, 'Shoes', 'S', 1), (2, NULL, 'shoes', 'S', 2), (6, NULL, 'Boots', 'B', 1),
            (4, 1, 'x', 'B', 2), (5, 2, 'x', 'Q', 1);
        INSERT INTO mlops.dedup_rules (target, exact_key, keep_order) VALUES ('app.cat', 't.code', 't.prio');
        """
    )
    with pytest.raises(psycopg.errors.UniqueViolation) as exc:
        conn.execute("SELECT * FROM mlops.merge_clusters('app.cat', ARRAY[1, 6], ARRAY[2, 4])")
    assert "cannot re-point" in str(exc.value)
    conn.execute("CALL mlops.merge_duplicates('app.cat')")
    assert conn.execute("SELECT status, rows_merged FROM mlops.dedup_runs").fetchall() == [("succeeded", 2)]
    assert conn.execute("SELECT id, parent_id FROM app.cat ORDER BY id").fetchall() == [(1, None), (6, None)]
    assert conn.execute(
        "SELECT target::text, survivor_id, loser_ids FROM mlops.merges ORDER BY merge_id"
    ).fetchall() == [("app.cat", 1, [2]), ("app.cat", 4, [5]), ("app.cat", 6, [4])]


def test_undo_of_combine_is_exact_whatever_the_sessions_settings(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.cust (id int PRIMARY KEY);
        CREATE TABLE public.rec (id int PRIMARY KEY, cust_id int REFERENCES public.cust, job int, score float8,
            seen date, UNIQUE (cust_id, job));
        INSERT INTO public.cust VALUES (1), (2);
        INSERT INTO public.rec VALUES (10, 1, 7, 0.1::float8 + 0.2::float8, '2020-02-01'),
            (20, 2, 7, 0.1, '2020-01-05');
        INSERT INTO mlops.conflict_policies VALUES ('public.rec', 'combine', '{"score": "max", "seen": "min"}');
        """
    )
    before = rows(conn, "public.rec")
    conn.execute("SET extra_float_digits = 0; SET datestyle = 'SQL, DMY'")
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[])").fetchone()
    conn.execute("SET datestyle = 'SQL, MDY'")
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    conn.execute("RESET datestyle; RESET extra_float_digits")
    assert rows(conn, "public.rec") == before


def test_undo_refuses_when_a_trigger_drops_a_restored_colliding_row(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.cust (id int PRIMARY KEY);
        CREATE TABLE public.tag (cust_id int REFERENCES public.cust, tag text, UNIQUE (cust_id, tag));
        INSERT INTO public.cust VALUES (1), (2); INSERT INTO public.tag VALUES (1, 'vip'), (2, 'vip');
        """
    )
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.cust', 1, ARRAY[2]::bigint[])").fetchone()
    conn.execute(
        """
        CREATE FUNCTION public.skip() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN IF NEW.cust_id = 2 THEN RETURN NULL; END IF; RETURN NEW; END $$;
        CREATE TRIGGER s BEFORE INSERT ON public.tag FOR EACH ROW EXECUTE FUNCTION public.skip();
        """
    )
    with pytest.raises(psycopg.errors.TriggeredActionException):
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute("SELECT undone_at FROM mlops.merges WHERE merge_id = %s", (merge_id,)).fetchone() == (None,)


def test_self_link_rows_of_a_partitioned_table_are_archived_under_that_table(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.acct (id int PRIMARY KEY);
        CREATE TABLE public.follow (follower int REFERENCES public.acct, followee int REFERENCES public.acct,
            CHECK (follower <> followee)) PARTITION BY RANGE (follower);
        CREATE TABLE public.follow_all PARTITION OF public.follow FOR VALUES FROM (MINVALUE) TO (MAXVALUE);
        INSERT INTO public.acct VALUES (1), (2), (3); INSERT INTO public.follow VALUES (2, 1), (3, 1);
        """
    )
    before = rows(conn, "public.follow")
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.acct', 1, ARRAY[2]::bigint[])").fetchone()
    assert conn.execute(
        "SELECT target::text, source_table FROM mlops.merge_archive WHERE target <> 'public.acct'::regclass"
    ).fetchall() == [("follow", None)]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(conn, "public.follow") == before


def test_a_key_of_a_domain_over_an_integer_type_merges_and_undoes(conn: psycopg.Connection) -> None:
    """Issue 9's first step: a key declared with a domain over bigint (at any depth) is an integer key."""
    conn.execute(
        """
        CREATE DOMAIN public.account_id AS bigint CHECK (VALUE > 0);
        CREATE DOMAIN public.vip_id AS public.account_id;
        CREATE TABLE public.account (id public.vip_id PRIMARY KEY, name text);
        CREATE TABLE public.visit (id int PRIMARY KEY, account_id public.account_id REFERENCES public.account);
        INSERT INTO public.account VALUES (1, 'a'), (2, 'a');
        INSERT INTO public.visit VALUES (10, 2);
        """
    )
    before = {t: rows(conn, t) for t in ("public.account", "public.visit")}
    (merge_id,) = conn.execute("SELECT mlops.merge_rows('public.account', 1, ARRAY[2]::bigint[])").fetchone()
    assert conn.execute("SELECT account_id FROM public.visit").fetchall() == [(1,)]
    assert conn.execute("SELECT mlops.resolve_id('public.account', 2)").fetchone() == (1,)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert {t: rows(conn, t) for t in ("public.account", "public.visit")} == before
