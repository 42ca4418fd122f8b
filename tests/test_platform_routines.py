"""The two routines that apply the incident's fix to a user's own tables, on schemas the package never saw:
CALL mlops.alter_fk_on_delete (catalog read back after every change, nothing changed after every error) and
mlops.add_soft_delete_columns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from helpers import load_incident, snapshot
from psycopg.rows import dict_row

import runner

ACTION_CODES = {"NO ACTION": "a", "RESTRICT": "r", "CASCADE": "c", "SET NULL": "n", "SET DEFAULT": "d"}

FK_SQL = """
SELECT c.oid, c.conname::text, c.confdeltype::text, c.confupdtype::text, c.confmatchtype::text, c.condeferrable,
       c.condeferred, c.convalidated, c.confrelid::regclass::text AS referenced_table,
       c.conindid::regclass::text AS key_index, c.confdelsetcols,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS u (attnum, ord)
             JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = u.attnum ORDER BY u.ord) AS columns,
       ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS u (attnum, ord)
             JOIN pg_attribute AS a ON a.attrelid = c.confrelid AND a.attnum = u.attnum ORDER BY u.ord)
           AS referenced_columns,
       obj_description(c.oid, 'pg_constraint') AS comment
FROM pg_constraint AS c
WHERE c.conrelid = %s::regclass AND c.conname = %s AND c.contype = 'f'
"""


# ---------------------------------------------------------------- helpers


def fk(conn: psycopg.Connection, table: str, name: str) -> dict[str, Any] | None:
    """The FK as pg_constraint holds it, columns by name in key order; None when there is none of that name."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(FK_SQL, (table, name)).fetchone()


def constraint_names(conn: psycopg.Connection, table: str) -> list[str]:
    """Every constraint of a table, by name."""
    return [
        name
        for (name,) in conn.execute(
            "SELECT conname::text FROM pg_constraint WHERE conrelid = %s::regclass ORDER BY 1", (table,)
        )
    ]


def catalog(conn: psycopg.Connection, *tables: str) -> dict[str, list]:
    """Constraints (with their OIDs: a dropped and re-created one differs), columns and rows of the tables."""
    regclasses = list(tables)
    return {
        "constraints": conn.execute(
            "SELECT conrelid::regclass::text, conname::text, oid, contype::text, confdeltype::text, convalidated,"
            " obj_description(oid, 'pg_constraint') FROM pg_constraint WHERE conrelid = ANY (%s::regclass[])"
            " ORDER BY 1, 2",
            (regclasses,),
        ).fetchall(),
        "columns": conn.execute(
            "SELECT attrelid::regclass::text, attnum, attname::text, format_type(atttypid, atttypmod)"
            " FROM pg_attribute WHERE attrelid = ANY (%s::regclass[]) AND attnum > 0 AND NOT attisdropped"
            " ORDER BY 1, 2",
            (regclasses,),
        ).fetchall(),
        "rows": [
            conn.execute(
                f"SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} AS t"
            ).fetchone()[0]
            for table in tables
        ],
    }


def with_notices(conn: psycopg.Connection, sql: str, params: tuple) -> list[str]:
    """Runs one statement; returns the NOTICEs and WARNINGs it sent, as 'SEVERITY: message'."""
    notices: list[str] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        notices.append(f"{diag.severity_nonlocalized}: {diag.message_primary}")

    conn.add_notice_handler(keep)
    try:
        conn.execute(sql, params)
    finally:
        conn.remove_notice_handler(keep)
    return notices


def alter_fk(conn: psycopg.Connection, table: str | None, name: str | None, action: str | None) -> list[str]:
    """CALL mlops.alter_fk_on_delete; returns its NOTICEs."""
    return with_notices(conn, "CALL mlops.alter_fk_on_delete(%s::regclass, %s, %s)", (table, name, action))


def add_soft_delete(conn: psycopg.Connection, table: str | None) -> list[str]:
    """SELECT mlops.add_soft_delete_columns; returns the names it says it added."""
    return conn.execute("SELECT mlops.add_soft_delete_columns(%s::regclass)", (table,)).fetchone()[0]


def columns(conn: psycopg.Connection, table: str) -> dict[str, str]:
    """Column name -> type, as format_type spells it."""
    return dict(
        conn.execute(
            "SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            (table,),
        ).fetchall()
    )


def parent_and_child(conn: psycopg.Connection, on_delete: str = "NO ACTION", child_columns: str = "") -> None:
    """public.parent (ids 1-3) and public.child (rows 10, 20 -> 1, 30 -> 2) with FK child_parent_id_fkey."""
    conn.execute(
        f"""
        CREATE TABLE public.parent (id int PRIMARY KEY);
        CREATE TABLE public.child (
            id int PRIMARY KEY,
            parent_id int DEFAULT 3 CONSTRAINT child_parent_id_fkey REFERENCES public.parent ON DELETE {on_delete}
            {child_columns}
        );
        INSERT INTO public.parent VALUES (1), (2), (3);
        INSERT INTO public.child (id, parent_id) VALUES (10, 1), (20, 1), (30, 2);
        """
    )


def assert_error(exc: pytest.ExceptionInfo, sqlstate: str, message: str) -> None:
    assert exc.value.sqlstate == sqlstate, exc.value
    assert exc.value.diag.message_primary == message


@pytest.fixture
def connect(dsn: str) -> Iterator[Callable[..., psycopg.Connection]]:
    """Opens more connections to the test database (closed afterwards)."""
    opened: list[psycopg.Connection] = []

    def _connect(**kwargs: Any) -> psycopg.Connection:
        kwargs.setdefault("autocommit", True)
        connection = psycopg.connect(dsn, **kwargs)
        opened.append(connection)
        return connection

    yield _connect
    for connection in opened:
        connection.close()


@pytest.fixture
def platform_conn(platform_dsn: str) -> Iterator[psycopg.Connection]:
    """The platform's database as before install --platform: its tables, the package installed, nothing adopted."""
    runner.install(platform_dsn)
    with psycopg.connect(platform_dsn, autocommit=True) as connection:
        yield connection


# ---------------------------------------------------------------- alter_fk_on_delete: the platform


def test_platform_fk_becomes_cascade_keeping_name_and_data(platform_conn: psycopg.Connection) -> None:
    load_incident(platform_conn)
    before_fk = fk(platform_conn, "mlops.job_recommendations", "job_recommendations_job_id_fkey")
    before_rows = snapshot(platform_conn)

    notices = alter_fk(platform_conn, "mlops.job_recommendations", "job_recommendations_job_id_fkey", "CASCADE")

    after = fk(platform_conn, "mlops.job_recommendations", "job_recommendations_job_id_fkey")
    assert before_fk["confdeltype"] == "a"
    assert after["confdeltype"] == "c" and after["convalidated"]
    assert after["oid"] != before_fk["oid"]
    assert {k: v for k, v in after.items() if k not in ("oid", "confdeltype")} == {
        k: v for k, v in before_fk.items() if k not in ("oid", "confdeltype")
    }
    assert constraint_names(platform_conn, "mlops.job_recommendations") == [
        "job_recommendations_job_id_fkey",
        "job_recommendations_pkey",
        "job_recommendations_resume_id_fkey",
        "job_recommendations_resume_id_job_id_key",
    ]
    assert snapshot(platform_conn) == before_rows
    assert notices == [
        "NOTICE: mlops.job_recommendations.job_recommendations_job_id_fkey is now ON DELETE CASCADE (was NO ACTION)"
    ]


def test_second_call_on_adopted_platform_is_a_noop_with_notice(conn: psycopg.Connection) -> None:
    load_incident(conn)
    before = catalog(conn, "mlops.job_recommendations", "mlops.job_postings")

    notices = alter_fk(conn, "mlops.job_recommendations", "job_recommendations_job_id_fkey", "cascade")

    assert catalog(conn, "mlops.job_recommendations", "mlops.job_postings") == before
    assert notices == [
        "NOTICE: mlops.job_recommendations.job_recommendations_job_id_fkey is ON DELETE CASCADE already;"
        " nothing changed"
    ]


# ---------------------------------------------------------------- alter_fk_on_delete: what it keeps


@pytest.mark.parametrize(
    ("given", "action"),
    [
        (" no   action ", "NO ACTION"),
        ("Restrict", "RESTRICT"),
        ("CASCADE", "CASCADE"),
        ("set null", "SET NULL"),
        ("\tSET\nDEFAULT ", "SET DEFAULT"),
    ],
)
def test_each_action_is_set_whatever_its_case_and_spacing(conn: psycopg.Connection, given: str, action: str) -> None:
    original = "CASCADE" if action == "NO ACTION" else "NO ACTION"
    parent_and_child(conn, original)

    notices = alter_fk(conn, "public.child", "child_parent_id_fkey", given)

    after = fk(conn, "public.child", "child_parent_id_fkey")
    assert after["confdeltype"] == ACTION_CODES[action]
    assert after["convalidated"]
    assert constraint_names(conn, "public.child") == ["child_parent_id_fkey", "child_pkey"]
    assert notices == [f"NOTICE: public.child.child_parent_id_fkey is now ON DELETE {action} (was {original})"]


def test_composite_fk_to_unique_key_in_quoted_schema_keeps_columns_in_order(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE SCHEMA "Shop";
        CREATE TABLE "Shop"."Orders" (
            id int PRIMARY KEY, "Region" text NOT NULL, "Order No" int NOT NULL,
            CONSTRAINT "Orders_region_no_key" UNIQUE ("Region", "Order No")
        );
        CREATE TABLE "Shop"."Order Lines" (
            id int PRIMARY KEY, "Line" int, "Order Number" int, "Order Region" text,
            CONSTRAINT "Order Lines_order_fkey" FOREIGN KEY ("Order Number", "Order Region")
                REFERENCES "Shop"."Orders" ("Order No", "Region")
        );
        INSERT INTO "Shop"."Orders" VALUES (1, 'EU', 7), (2, 'US', 7);
        INSERT INTO "Shop"."Order Lines" VALUES (1, 1, 7, 'EU'), (2, 2, 7, 'US'), (3, 1, 7, 'US');
        """
    )
    table = '"Shop"."Order Lines"'
    before = fk(conn, table, "Order Lines_order_fkey")

    alter_fk(conn, table, "Order Lines_order_fkey", "CASCADE")

    after = fk(conn, table, "Order Lines_order_fkey")
    assert after["columns"] == ["Order Number", "Order Region"]
    assert after["referenced_columns"] == ["Order No", "Region"]
    assert after["referenced_table"] == '"Shop"."Orders"'
    assert after["key_index"] == '"Shop"."Orders_region_no_key"'
    assert (after["confdeltype"], after["convalidated"]) == ("c", True)
    assert {k: v for k, v in after.items() if k not in ("oid", "confdeltype")} == {
        k: v for k, v in before.items() if k not in ("oid", "confdeltype")
    }
    assert constraint_names(conn, table) == ["Order Lines_order_fkey", "Order Lines_pkey"]


@pytest.mark.parametrize("deferral", ["DEFERRABLE INITIALLY DEFERRED", "DEFERRABLE INITIALLY IMMEDIATE"])
def test_on_update_match_full_and_deferrability_are_kept(conn: psycopg.Connection, deferral: str) -> None:
    conn.execute(
        f"""
        CREATE TABLE public.parent (a int, b int, PRIMARY KEY (a, b));
        CREATE TABLE public.child (id int PRIMARY KEY, a int, b int,
            CONSTRAINT child_a_b_fkey FOREIGN KEY (a, b) REFERENCES public.parent
                MATCH FULL ON UPDATE CASCADE ON DELETE RESTRICT {deferral});
        INSERT INTO public.parent VALUES (1, 1);
        INSERT INTO public.child VALUES (1, 1, 1), (2, NULL, NULL);
        """
    )

    alter_fk(conn, "public.child", "child_a_b_fkey", "SET NULL")

    after = fk(conn, "public.child", "child_a_b_fkey")
    assert (after["confdeltype"], after["confupdtype"], after["confmatchtype"]) == ("n", "c", "f")
    assert after["condeferrable"] is True
    assert after["condeferred"] is (deferral == "DEFERRABLE INITIALLY DEFERRED")
    assert after["convalidated"] is True


def test_comment_on_the_fk_is_kept(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    conn.execute("COMMENT ON CONSTRAINT child_parent_id_fkey ON public.child IS 'owned by billing'")

    alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    assert fk(conn, "public.child", "child_parent_id_fkey")["comment"] == "owned by billing"


def test_not_valid_fk_stays_not_valid_and_its_old_rows_stay(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.parent (id int PRIMARY KEY);
        CREATE TABLE public.child (id int PRIMARY KEY, parent_id int);
        INSERT INTO public.parent VALUES (1);
        INSERT INTO public.child VALUES (1, 1), (2, 99);
        ALTER TABLE public.child ADD CONSTRAINT child_parent_id_fkey FOREIGN KEY (parent_id)
            REFERENCES public.parent NOT VALID;
        """
    )

    notices = alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    after = fk(conn, "public.child", "child_parent_id_fkey")
    assert (after["confdeltype"], after["convalidated"]) == ("c", False)
    assert conn.execute("SELECT array_agg(parent_id ORDER BY id) FROM public.child").fetchone()[0] == [1, 99]
    assert notices == [
        "NOTICE: public.child.child_parent_id_fkey is now ON DELETE CASCADE (was NO ACTION); NOT VALID as it was"
    ]


def test_set_null_with_column_list_becomes_plain_action(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.parent (tenant int, id int, PRIMARY KEY (tenant, id));
        CREATE TABLE public.child (id int PRIMARY KEY, tenant int NOT NULL, parent_id int,
            CONSTRAINT child_tenant_parent_id_fkey FOREIGN KEY (tenant, parent_id) REFERENCES public.parent
                ON DELETE SET NULL (parent_id));
        """
    )

    notices = alter_fk(conn, "public.child", "child_tenant_parent_id_fkey", "CASCADE")

    after = fk(conn, "public.child", "child_tenant_parent_id_fkey")
    assert (after["confdeltype"], after["confdelsetcols"]) == ("c", None)
    assert notices == [
        "NOTICE: public.child.child_tenant_parent_id_fkey is now ON DELETE CASCADE (was SET NULL (parent_id))"
    ]


def test_set_null_on_a_not_null_column_warns(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.parent (id int PRIMARY KEY);
        CREATE TABLE public.child (id int PRIMARY KEY,
            parent_id int NOT NULL CONSTRAINT child_parent_id_fkey REFERENCES public.parent);
        """
    )

    notices = alter_fk(conn, "public.child", "child_parent_id_fkey", "SET NULL")

    assert fk(conn, "public.child", "child_parent_id_fkey")["confdeltype"] == "n"
    assert notices[0] == (
        "WARNING: ON DELETE SET NULL on public.child.child_parent_id_fkey: parent_id NOT NULL, so deleting a "
        "referenced row will fail"
    )


# ---------------------------------------------------------------- alter_fk_on_delete: the FK still works


def test_cascade_cascades_after_the_change(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    conn.execute("DELETE FROM public.parent WHERE id = 1")

    assert conn.execute("SELECT array_agg(id ORDER BY id) FROM public.child").fetchone()[0] == [30]


def test_set_null_nulls_after_the_change(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    alter_fk(conn, "public.child", "child_parent_id_fkey", "SET NULL")

    conn.execute("DELETE FROM public.parent WHERE id = 1")

    assert conn.execute("SELECT array_agg(parent_id ORDER BY id) FROM public.child").fetchone()[0] == [None, None, 2]


def test_set_default_sets_default_after_the_change(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    alter_fk(conn, "public.child", "child_parent_id_fkey", "SET DEFAULT")

    conn.execute("DELETE FROM public.parent WHERE id = 1")

    assert conn.execute("SELECT array_agg(parent_id ORDER BY id) FROM public.child").fetchone()[0] == [3, 3, 2]


def test_restrict_refuses_delete_after_the_change(conn: psycopg.Connection) -> None:
    parent_and_child(conn, "CASCADE")
    alter_fk(conn, "public.child", "child_parent_id_fkey", "RESTRICT")

    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("DELETE FROM public.parent WHERE id = 1")

    assert conn.execute("SELECT count(*) FROM public.child").fetchone()[0] == 3


def test_orphan_insert_fails_after_the_change(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    with pytest.raises(psycopg.errors.ForeignKeyViolation) as exc:
        conn.execute("INSERT INTO public.child VALUES (40, 99)")

    assert 'violates foreign key constraint "child_parent_id_fkey"' in exc.value.diag.message_primary


def test_self_referencing_fk_cascades_down_the_tree_after_the_change(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.categories (id int PRIMARY KEY,
            parent_id int CONSTRAINT categories_parent_id_fkey REFERENCES public.categories);
        INSERT INTO public.categories VALUES (1, NULL), (2, 1), (3, 2), (4, NULL);
        """
    )

    alter_fk(conn, "public.categories", "categories_parent_id_fkey", "CASCADE")
    conn.execute("DELETE FROM public.categories WHERE id = 1")

    after = fk(conn, "public.categories", "categories_parent_id_fkey")
    assert (after["confdeltype"], after["convalidated"], after["referenced_table"]) == ("c", True, "categories")
    assert conn.execute("SELECT array_agg(id) FROM public.categories").fetchone()[0] == [4]


# ---------------------------------------------------------------- alter_fk_on_delete: partitions


def partitioned_child(conn: psycopg.Connection) -> None:
    """public.parent and public.events (FK to parent), partitioned into events_1 and events_2, itself partitioned."""
    conn.execute(
        """
        CREATE TABLE public.parent (id int PRIMARY KEY);
        CREATE TABLE public.events (id int, parent_id int CONSTRAINT events_parent_id_fkey REFERENCES public.parent)
            PARTITION BY RANGE (id);
        CREATE TABLE public.events_1 PARTITION OF public.events FOR VALUES FROM (0) TO (100);
        CREATE TABLE public.events_2 PARTITION OF public.events FOR VALUES FROM (100) TO (200)
            PARTITION BY RANGE (id);
        CREATE TABLE public.events_2a PARTITION OF public.events_2 FOR VALUES FROM (100) TO (200);
        INSERT INTO public.parent VALUES (1), (2);
        INSERT INTO public.events VALUES (1, 1), (101, 1), (102, 2);
        """
    )


def test_partitioned_table_fk_is_changed_on_every_partition_under_its_name(conn: psycopg.Connection) -> None:
    partitioned_child(conn)

    alter_fk(conn, "public.events", "events_parent_id_fkey", "CASCADE")

    rows = conn.execute(
        "SELECT conrelid::regclass::text, conname::text, confdeltype::text, convalidated, conparentid <> 0"
        " FROM pg_constraint WHERE contype = 'f' AND conrelid IN"
        " ('public.events'::regclass, 'public.events_1'::regclass, 'public.events_2'::regclass,"
        " 'public.events_2a'::regclass) ORDER BY 1"
    ).fetchall()
    assert rows == [
        ("events", "events_parent_id_fkey", "c", True, False),
        ("events_1", "events_parent_id_fkey", "c", True, True),
        ("events_2", "events_parent_id_fkey", "c", True, True),
        ("events_2a", "events_parent_id_fkey", "c", True, True),
    ]


def test_partition_rejects_orphan_and_cascades_after_the_change(conn: psycopg.Connection) -> None:
    partitioned_child(conn)
    alter_fk(conn, "public.events", "events_parent_id_fkey", "CASCADE")

    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        conn.execute("INSERT INTO public.events_2a VALUES (150, 99)")
    conn.execute("DELETE FROM public.parent WHERE id = 1")

    assert conn.execute("SELECT array_agg(id ORDER BY id) FROM public.events").fetchone()[0] == [102]


def test_interrupted_change_on_a_partitioned_table_is_finished_on_every_partition(conn: psycopg.Connection) -> None:
    partitioned_child(conn)
    conn.execute(
        "ALTER TABLE public.events ADD CONSTRAINT events_parent_id_fkey_pending FOREIGN KEY (parent_id)"
        " REFERENCES public.parent ON DELETE SET NULL"
    )

    alter_fk(conn, "public.events", "events_parent_id_fkey", "SET NULL")

    assert conn.execute(
        "SELECT array_agg(DISTINCT conname::text), array_agg(DISTINCT confdeltype::text), count(*) FROM pg_constraint"
        " WHERE contype = 'f' AND conrelid IN ('public.events'::regclass, 'public.events_1'::regclass,"
        " 'public.events_2'::regclass, 'public.events_2a'::regclass)"
    ).fetchone() == (["events_parent_id_fkey"], ["n"], 4)


def test_fk_inherited_by_a_partition_is_refused(conn: psycopg.Connection) -> None:
    partitioned_child(conn)
    before = catalog(conn, "public.events", "public.events_1", "public.events_2", "public.events_2a")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, "public.events_1", "events_parent_id_fkey", "CASCADE")

    assert_error(
        exc,
        "42809",
        "foreign key events_parent_id_fkey of public.events_1 is inherited from its partitioned table public.events",
    )
    assert exc.value.diag.message_hint == "Change it on the partitioned table; its partitions follow."
    assert catalog(conn, "public.events", "public.events_1", "public.events_2", "public.events_2a") == before


def referenced_partitioned(conn: psycopg.Connection) -> None:
    """public.accounts partitioned into accounts_1 and accounts_2; public.orders references it."""
    conn.execute(
        """
        CREATE TABLE public.accounts (id int PRIMARY KEY) PARTITION BY RANGE (id);
        CREATE TABLE public.accounts_1 PARTITION OF public.accounts FOR VALUES FROM (0) TO (100);
        CREATE TABLE public.accounts_2 PARTITION OF public.accounts FOR VALUES FROM (100) TO (200);
        CREATE TABLE public.orders (id int PRIMARY KEY,
            account_id int CONSTRAINT orders_account_id_fkey REFERENCES public.accounts);
        INSERT INTO public.accounts VALUES (1), (101);
        INSERT INTO public.orders VALUES (1, 1), (2, 101), (3, 101);
        """
    )


def test_fk_to_a_partitioned_table_is_changed_and_cascades_from_each_partition(conn: psycopg.Connection) -> None:
    referenced_partitioned(conn)

    alter_fk(conn, "public.orders", "orders_account_id_fkey", "CASCADE")
    conn.execute("DELETE FROM public.accounts WHERE id = 101")

    assert fk(conn, "public.orders", "orders_account_id_fkey")["confdeltype"] == "c"
    assert conn.execute(
        "SELECT array_agg(DISTINCT confdeltype::text) FROM pg_constraint WHERE conrelid = 'public.orders'::regclass"
        " AND contype = 'f'"
    ).fetchone()[0] == ["c"]
    assert conn.execute("SELECT array_agg(id) FROM public.orders").fetchone()[0] == [1]


def test_copy_of_fk_for_a_referenced_partition_is_refused(conn: psycopg.Connection) -> None:
    referenced_partitioned(conn)
    (copy,) = conn.execute(
        "SELECT conname::text FROM pg_constraint WHERE conrelid = 'public.orders'::regclass"
        " AND confrelid = 'public.accounts_1'::regclass"
    ).fetchone()
    before = catalog(conn, "public.orders")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, "public.orders", copy, "CASCADE")

    assert_error(
        exc,
        "42809",
        f"foreign key {copy} of public.orders is PostgreSQL's copy of its foreign key "
        "orders_account_id_fkey for one partition of the referenced table",
    )
    assert exc.value.diag.message_hint == "Change orders_account_id_fkey instead; its copies follow."
    assert catalog(conn, "public.orders") == before


# ---------------------------------------------------------------- alter_fk_on_delete: errors change nothing


def test_unknown_fk_is_an_error_listing_the_tables_fks(conn: psycopg.Connection) -> None:
    referenced_partitioned(conn)
    conn.execute('ALTER TABLE public.orders ADD COLUMN other_id int CONSTRAINT "Other FK" REFERENCES public.accounts')
    before = catalog(conn, "public.orders")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, "public.orders", "orders_customer_fkey", "CASCADE")

    assert_error(exc, "42704", "table public.orders has no foreign key named orders_customer_fkey")
    # PostgreSQL's copies of each FK for the partitions of accounts are left out.
    assert exc.value.diag.message_hint == 'Its foreign keys: "Other FK", orders_account_id_fkey.'
    assert catalog(conn, "public.orders") == before


def test_fk_name_on_a_table_without_fks_says_so(conn: psycopg.Connection) -> None:
    parent_and_child(conn)

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, "public.parent", "child_parent_id_fkey", "CASCADE")

    assert_error(exc, "42704", "table public.parent has no foreign key named child_parent_id_fkey")
    assert exc.value.diag.message_hint == "It has no foreign keys."


@pytest.mark.parametrize(
    ("action", "shown"),
    [(None, "NULL"), ("", "''"), ("DELETE", "'DELETE'"), ("SETNULL", "'SETNULL'"), ("cascade;", "'cascade;'")],
)
def test_null_or_unknown_action_is_an_error(conn: psycopg.Connection, action: str | None, shown: str) -> None:
    parent_and_child(conn)
    before = catalog(conn, "public.child")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, "public.child", "child_parent_id_fkey", action)

    assert_error(
        exc, "22023", f"ON DELETE action must be NO ACTION, RESTRICT, CASCADE, SET NULL or SET DEFAULT, got {shown}"
    )
    assert catalog(conn, "public.child") == before


@pytest.mark.parametrize(
    ("table", "sqlstate", "message"),
    [
        ("public.child_view", "42809", "public.child_view is not a table"),
        (None, "22004", "target table must not be NULL"),
    ],
)
def test_view_or_null_table_is_an_error(
    conn: psycopg.Connection, table: str | None, sqlstate: str, message: str
) -> None:
    parent_and_child(conn)
    conn.execute("CREATE VIEW public.child_view AS SELECT * FROM public.child")
    before = catalog(conn, "public.child")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, table, "child_parent_id_fkey", "CASCADE")

    assert_error(exc, sqlstate, message)
    assert catalog(conn, "public.child") == before


def test_call_in_a_transaction_block_that_wrote_is_refused(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    parent_and_child(conn)
    before = catalog(conn, "public.child")
    in_block = connect(autocommit=False)
    in_block.execute("INSERT INTO public.child VALUES (40, 3)")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(in_block, "public.child", "child_parent_id_fkey", "CASCADE")
    in_block.rollback()

    assert_error(exc, "25000", "mlops.alter_fk_on_delete commits as it goes and cannot run inside a transaction block")
    assert catalog(conn, "public.child") == before


def test_call_first_in_a_transaction_block_changes_nothing(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    # Right after BEGIN the check cannot always tell (see README); the first COMMIT then fails before any change.
    parent_and_child(conn)
    before = catalog(conn, "public.child")
    in_block = connect(autocommit=False)

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(in_block, "public.child", "child_parent_id_fkey", "CASCADE")
    in_block.rollback()

    assert exc.value.sqlstate in ("25000", "2D000"), exc.value
    assert catalog(conn, "public.child") == before


def test_autocommit_call_from_a_slow_client_is_not_refused(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    parent_and_child(conn)
    pgconn = connect().pgconn
    pgconn.enter_pipeline_mode()
    pgconn.send_prepare(b"alter_fk", b"CALL mlops.alter_fk_on_delete($1::regclass, $2, $3)")
    pgconn.flush()
    time.sleep(0.05)  # the stimulus, not a synchronisation: Bind and Execute arrive 50 ms after Parse
    pgconn.send_query_prepared(b"alter_fk", [b"public.child", b"child_parent_id_fkey", b"CASCADE"])
    pgconn.pipeline_sync()
    pgconn.flush()
    results = []
    while not results or results[-1].status != psycopg.pq.ExecStatus.PIPELINE_SYNC:
        result = pgconn.get_result()
        if result is not None:
            results.append(result)

    assert [r.error_message.decode() for r in results] == ["", "", ""]
    assert fk(conn, "public.child", "child_parent_id_fkey")["confdeltype"] == "c"


# ---------------------------------------------------------------- alter_fk_on_delete: interrupted changes


def test_interrupted_change_is_finished_with_its_leftover(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    conn.execute(
        "ALTER TABLE public.child ADD CONSTRAINT child_parent_id_fkey_pending FOREIGN KEY (parent_id)"
        " REFERENCES public.parent ON DELETE CASCADE NOT VALID"
    )
    leftover = fk(conn, "public.child", "child_parent_id_fkey_pending")

    alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    after = fk(conn, "public.child", "child_parent_id_fkey")
    assert after["oid"] == leftover["oid"]
    assert (after["confdeltype"], after["convalidated"]) == ("c", True)
    assert constraint_names(conn, "public.child") == ["child_parent_id_fkey", "child_pkey"]


def test_leftover_of_another_action_is_replaced(conn: psycopg.Connection) -> None:
    parent_and_child(conn)
    conn.execute(
        "ALTER TABLE public.child ADD CONSTRAINT child_parent_id_fkey_pending FOREIGN KEY (parent_id)"
        " REFERENCES public.parent ON DELETE RESTRICT NOT VALID"
    )

    alter_fk(conn, "public.child", "child_parent_id_fkey", "SET NULL")

    after = fk(conn, "public.child", "child_parent_id_fkey")
    assert (after["confdeltype"], after["convalidated"]) == ("n", True)
    assert constraint_names(conn, "public.child") == ["child_parent_id_fkey", "child_pkey"]


def test_leftover_is_dropped_when_the_fk_is_so_already(conn: psycopg.Connection) -> None:
    parent_and_child(conn, "CASCADE")
    original = fk(conn, "public.child", "child_parent_id_fkey")
    conn.execute(
        "ALTER TABLE public.child ADD CONSTRAINT child_parent_id_fkey_pending FOREIGN KEY (parent_id)"
        " REFERENCES public.parent ON DELETE SET NULL NOT VALID"
    )

    notices = alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    assert fk(conn, "public.child", "child_parent_id_fkey") == original
    assert constraint_names(conn, "public.child") == ["child_parent_id_fkey", "child_pkey"]
    assert notices == [
        "NOTICE: public.child.child_parent_id_fkey is ON DELETE CASCADE already; dropped the leftover constraint "
        "child_parent_id_fkey_pending of an interrupted change"
    ]


@pytest.mark.parametrize(
    "other",
    [
        "CHECK (parent_id > 0)",
        "FOREIGN KEY (id) REFERENCES public.parent ON DELETE CASCADE NOT VALID",
        "FOREIGN KEY (parent_id) REFERENCES public.parent ON UPDATE CASCADE ON DELETE CASCADE NOT VALID",
    ],
)
def test_other_constraint_holding_the_temporary_name_is_refused(conn: psycopg.Connection, other: str) -> None:
    parent_and_child(conn)
    conn.execute(f"ALTER TABLE public.child ADD CONSTRAINT child_parent_id_fkey_pending {other}")
    before = catalog(conn, "public.child")

    with pytest.raises(psycopg.Error) as exc:
        alter_fk(conn, "public.child", "child_parent_id_fkey", "CASCADE")

    assert_error(
        exc,
        "42710",
        "table public.child has a constraint child_parent_id_fkey_pending already, which this change "
        "needs as a temporary name",
    )
    assert catalog(conn, "public.child") == before


@pytest.mark.parametrize(
    "name",
    ["é" * 31 + "x", "a" * 55 + "_pending", "Ünïcödé FK " + "ß" * 24],
    ids=["multibyte", "ends_in_pending", "mixed"],
)
def test_63_byte_name_is_kept_and_no_temporary_constraint_is_left(conn: psycopg.Connection, name: str) -> None:
    assert len(name.encode()) == 63
    parent_and_child(conn)
    conn.execute("ALTER TABLE public.child RENAME CONSTRAINT child_parent_id_fkey TO {}".format(f'"{name}"'))

    alter_fk(conn, "public.child", name, "CASCADE")

    assert fk(conn, "public.child", name)["confdeltype"] == "c"
    assert constraint_names(conn, "public.child") == sorted([name, "child_pkey"])


def test_63_byte_name_resumes_with_a_distinct_temporary_name_cut_on_a_character(conn: psycopg.Connection) -> None:
    name = "é" * 31 + "x"
    pending = "é" * 27 + "_pending"  # 62 bytes: 28 characters é would be 56 bytes, one more than fits
    parent_and_child(conn)
    conn.execute(f'ALTER TABLE public.child RENAME CONSTRAINT child_parent_id_fkey TO "{name}"')
    conn.execute(
        f'ALTER TABLE public.child ADD CONSTRAINT "{pending}" FOREIGN KEY (parent_id) REFERENCES public.parent'
        " ON DELETE CASCADE NOT VALID"
    )
    leftover = fk(conn, "public.child", pending)

    alter_fk(conn, "public.child", name, "CASCADE")

    assert fk(conn, "public.child", name)["oid"] == leftover["oid"]
    assert constraint_names(conn, "public.child") == sorted([name, "child_pkey"])


# ---------------------------------------------------------------- alter_fk_on_delete: a concurrent writer


def wait_until_blocked(observer: psycopg.Connection, waiter_pid: int, blocker_pid: int, step: threading.Thread) -> None:
    """Polls until the waiter waits for a lock the blocker holds; fails if the step ends or 30 s pass first."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and step.is_alive():
        if observer.execute(
            "SELECT pg_isolation_test_session_is_blocked(%s, %s)", (waiter_pid, [blocker_pid])
        ).fetchone()[0]:
            return
    raise AssertionError(f"session {waiter_pid} never blocked on {blocker_pid}")


def test_inserts_go_on_while_validate_scans(
    conn: psycopg.Connection, connect: Callable[..., psycopg.Connection]
) -> None:
    # The referenced key's btree operator class compares through gate.cmp, which waits for advisory lock 4242 in
    # the session named 'validator' only: VALIDATE, which compares every row, stops there mid-scan, holding its locks.
    conn.execute(
        """
        CREATE SCHEMA gate;
        CREATE FUNCTION gate.cmp(a int, b int) RETURNS int LANGUAGE plpgsql IMMUTABLE STRICT AS $f$
        BEGIN
            IF current_setting('application_name') = 'validator' THEN
                PERFORM pg_advisory_xact_lock_shared(4242);
            END IF;
            RETURN btint4cmp(a, b);
        END $f$;
        CREATE FUNCTION gate.eq(a int, b int) RETURNS boolean LANGUAGE plpgsql IMMUTABLE STRICT AS $f$
        BEGIN RETURN gate.cmp(a, b) = 0; END $f$;
        CREATE OPERATOR gate.= (FUNCTION = gate.eq, LEFTARG = int, RIGHTARG = int);
        CREATE OPERATOR CLASS gate.int_ops FOR TYPE int USING btree AS
            OPERATOR 1 pg_catalog.<, OPERATOR 2 pg_catalog.<=, OPERATOR 3 gate.=, OPERATOR 4 pg_catalog.>=,
            OPERATOR 5 pg_catalog.>, FUNCTION 1 gate.cmp(int, int);
        CREATE TABLE public.parent (id int NOT NULL);
        CREATE UNIQUE INDEX parent_id_key ON public.parent (id gate.int_ops);
        CREATE TABLE public.child (id int, parent_id int CONSTRAINT child_parent_id_fkey REFERENCES public.parent (id));
        INSERT INTO public.parent SELECT generate_series(1, 10);
        INSERT INTO public.child SELECT g, g FROM generate_series(1, 10) AS g;
        """
    )
    holder, caller, writer = connect(), connect(application_name="validator"), connect()
    holder.execute("SELECT pg_advisory_lock(4242)")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            alter_fk(caller, "public.child", "child_parent_id_fkey", "CASCADE")
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    step = threading.Thread(target=run, daemon=True)
    step.start()
    try:
        wait_until_blocked(conn, caller.info.backend_pid, holder.info.backend_pid, step)
        locks = conn.execute(
            "SELECT c.relname::text, l.mode FROM pg_locks AS l JOIN pg_class AS c ON c.oid = l.relation"
            " WHERE l.pid = %s AND l.granted AND c.relnamespace = 'public'::regnamespace ORDER BY 1, 2",
            (caller.info.backend_pid,),
        ).fetchall()
        pending = fk(conn, "public.child", "child_parent_id_fkey_pending")
        writer.execute("SET lock_timeout = '5s'")  # a guard: blocked, the insert fails instead of hanging the test
        writer.execute("INSERT INTO public.child VALUES (11, 5)")
    finally:
        holder.execute("SELECT pg_advisory_unlock(4242)")
        step.join(30)

    # VALIDATE holds SHARE UPDATE EXCLUSIVE on the table it scans (inserts take ROW EXCLUSIVE: no conflict), nothing
    # stronger, and only ROW SHARE (plus ACCESS SHARE for reading) on the referenced table.
    assert {mode for table, mode in locks if table == "child"} == {"AccessShareLock", "ShareUpdateExclusiveLock"}
    assert {mode for table, mode in locks if table == "parent"} == {"AccessShareLock", "RowShareLock"}
    assert (pending["confdeltype"], pending["convalidated"]) == ("c", False)
    assert errors == []
    assert (fk(conn, "public.child", "child_parent_id_fkey")["confdeltype"], step.is_alive()) == ("c", False)
    assert conn.execute("SELECT count(*) FROM public.child").fetchone()[0] == 11


# ---------------------------------------------------------------- add_soft_delete_columns


@pytest.mark.parametrize(
    ("key", "merged_into_type"),
    [
        ("id serial PRIMARY KEY", "integer"),
        ("id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "bigint"),
        ("id uuid PRIMARY KEY DEFAULT gen_random_uuid()", "uuid"),
        ("id text PRIMARY KEY", "text"),
        ("id varchar(20) PRIMARY KEY", "character varying(20)"),
    ],
)
def test_soft_delete_columns_take_the_key_type(conn: psycopg.Connection, key: str, merged_into_type: str) -> None:
    conn.execute(f"CREATE TABLE public.items ({key}, name text)")

    added = add_soft_delete(conn, "public.items")

    assert added == ["deleted_at", "merged_into"]
    assert list(columns(conn, "public.items").items())[-2:] == [
        ("deleted_at", "timestamp with time zone"),
        ("merged_into", merged_into_type),
    ]


def test_second_call_adds_nothing(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.items (id int PRIMARY KEY)")
    add_soft_delete(conn, "public.items")
    before = catalog(conn, "public.items")

    added = add_soft_delete(conn, "public.items")

    assert added == []
    assert catalog(conn, "public.items") == before


def test_adopted_platform_tables_add_nothing(conn: psycopg.Connection) -> None:
    before = catalog(conn, "mlops.job_postings")

    notices = with_notices(conn, "SELECT mlops.add_soft_delete_columns('mlops.job_postings')", ())

    assert catalog(conn, "mlops.job_postings") == before
    assert notices == ["NOTICE: mlops.job_postings has deleted_at and merged_into already; nothing changed"]


def test_only_the_missing_column_is_added(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.items (id int PRIMARY KEY, deleted_at timestamptz)")

    added = add_soft_delete(conn, "public.items")

    assert added == ["merged_into"]
    assert columns(conn, "public.items") == {
        "id": "integer",
        "deleted_at": "timestamp with time zone",
        "merged_into": "integer",
    }


@pytest.mark.parametrize(
    ("existing", "added"),
    [
        ("deleted_at timestamp(3) with time zone", ["merged_into"]),
        ("deleted_at timestamp without time zone", ["merged_into"]),
        ("merged_into bigint", ["deleted_at"]),
    ],
)
def test_existing_columns_of_a_usable_type_are_kept(conn: psycopg.Connection, existing: str, added: list) -> None:
    conn.execute(f"CREATE TABLE public.items (id int PRIMARY KEY, {existing})")
    before = columns(conn, "public.items")

    assert add_soft_delete(conn, "public.items") == added

    after = columns(conn, "public.items")
    assert {name: after[name] for name in before} == before


@pytest.mark.parametrize(
    ("key", "existing", "message"),
    [
        (
            "int",
            "deleted_at boolean",
            "public.items.deleted_at exists with type boolean, not the type soft delete needs",
        ),
        ("int", "deleted_at date", "public.items.deleted_at exists with type date, not the type soft delete needs"),
        (
            "bigint",
            "merged_into int",
            "public.items.merged_into exists with type integer, not the type soft delete needs",
        ),
        ("uuid", "merged_into text", "public.items.merged_into exists with type text, not the type soft delete needs"),
    ],
)
def test_column_of_another_type_is_an_error_and_nothing_is_added(
    conn: psycopg.Connection, key: str, existing: str, message: str
) -> None:
    conn.execute(f"CREATE TABLE public.items (id {key} PRIMARY KEY, {existing})")
    before = catalog(conn, "public.items")

    with pytest.raises(psycopg.Error) as exc:
        add_soft_delete(conn, "public.items")

    assert_error(exc, "42804", message)
    assert catalog(conn, "public.items") == before


@pytest.mark.parametrize(
    ("definition", "detail"),
    [
        ("(name text)", "It has no primary key. "),
        ("(a int, b int, PRIMARY KEY (a, b))", "Its primary key has 2 columns (a, b). "),
    ],
    ids=["no_key", "composite_key"],
)
def test_table_without_single_column_key_is_an_error(conn: psycopg.Connection, definition: str, detail: str) -> None:
    conn.execute(f"CREATE TABLE public.items {definition}")
    before = catalog(conn, "public.items")

    with pytest.raises(psycopg.Error) as exc:
        add_soft_delete(conn, "public.items")

    assert_error(exc, "0A000", "cannot add soft-delete columns to public.items: it has no single-column primary key")
    assert exc.value.diag.message_detail == detail + "merged_into holds the key of the row a merged row went into."
    assert catalog(conn, "public.items") == before


def test_package_table_is_an_error(conn: psycopg.Connection) -> None:
    before = catalog(conn, "mlops.merges")

    with pytest.raises(psycopg.Error) as exc:
        add_soft_delete(conn, "mlops.merges")

    assert_error(exc, "22023", "mlops.merges is a table of the mlops-dedup package; its rows are never merged")
    assert catalog(conn, "mlops.merges") == before


@pytest.mark.parametrize(
    ("table", "sqlstate", "message"),
    [
        ("public.items_view", "42809", "public.items_view is not a table"),
        (None, "22004", "target table must not be NULL"),
        ("public.items_1", "42809", "cannot add soft-delete columns to public.items_1: it is a partition"),
    ],
)
def test_view_null_or_partition_is_an_error(
    conn: psycopg.Connection, table: str | None, sqlstate: str, message: str
) -> None:
    conn.execute(
        """
        CREATE TABLE public.items (id int PRIMARY KEY) PARTITION BY RANGE (id);
        CREATE TABLE public.items_1 PARTITION OF public.items FOR VALUES FROM (0) TO (100);
        CREATE VIEW public.items_view AS SELECT * FROM public.items;
        """
    )
    before = catalog(conn, "public.items", "public.items_1")

    with pytest.raises(psycopg.Error) as exc:
        add_soft_delete(conn, table)

    assert_error(exc, sqlstate, message)
    assert catalog(conn, "public.items", "public.items_1") == before


def test_partitioned_table_gets_the_columns_on_every_partition(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.items (id bigint PRIMARY KEY) PARTITION BY RANGE (id);
        CREATE TABLE public.items_1 PARTITION OF public.items FOR VALUES FROM (0) TO (100);
        """
    )

    add_soft_delete(conn, "public.items")

    assert columns(conn, "public.items_1") == {
        "id": "bigint",
        "deleted_at": "timestamp with time zone",
        "merged_into": "bigint",
    }


def test_quoted_table_in_another_schema(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE SCHEMA "Shop Data";
        CREATE TABLE "Shop Data"."Customer ""VIP"" List" ("Customer Id" bigint PRIMARY KEY, "Name" text);
        """
    )
    table = '"Shop Data"."Customer ""VIP"" List"'

    added = add_soft_delete(conn, table)

    assert added == ["deleted_at", "merged_into"]
    assert columns(conn, table) == {
        "Customer Id": "bigint",
        "Name": "text",
        "deleted_at": "timestamp with time zone",
        "merged_into": "bigint",
    }


def test_added_columns_are_commented(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.items (id int PRIMARY KEY)")

    add_soft_delete(conn, "public.items")

    comments = dict(
        conn.execute(
            "SELECT attname::text, col_description(attrelid, attnum) FROM pg_attribute"
            " WHERE attrelid = 'public.items'::regclass AND attname IN ('deleted_at', 'merged_into')"
        ).fetchall()
    )
    assert comments == {
        "deleted_at": "When the row was soft-deleted (merged away by mlops-dedup); NULL for live rows.",
        "merged_into": "Key of the row this one was merged into, if soft-deleted by a merge (mlops-dedup).",
    }


def test_table_with_rows_is_not_rewritten(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE public.items (id int PRIMARY KEY, name text);"
        " INSERT INTO public.items SELECT g, 'item ' || g FROM generate_series(1, 1000) AS g"
    )
    storage = "SELECT relfilenode FROM pg_class WHERE oid = 'public.items'::regclass"
    rows = "SELECT jsonb_agg(jsonb_build_object('id', id, 'name', name) ORDER BY id) FROM public.items"
    (relfilenode,), (before,) = conn.execute(storage).fetchone(), conn.execute(rows).fetchone()

    add_soft_delete(conn, "public.items")

    assert conn.execute(storage).fetchone() == (relfilenode,)
    assert conn.execute(rows).fetchone() == (before,)
    assert conn.execute("SELECT count(deleted_at), count(merged_into) FROM public.items").fetchone() == (0, 0)
