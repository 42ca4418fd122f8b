"""Schemas and situations a new user tried (issue 8's fresh-user review): columns named like the merge's own aliases,
FKs to extension-type keys, fill through self references, user triggers under fill, rules, survivors in inheritance
children, ids reused before undo, combined values that do not fit, survivors merged away meanwhile. Each either
merges with nothing lost and undoes exactly, or is refused with a clear error and nothing changed."""

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
