"""mlops.declared_references: references PostgreSQL does not know about, declared only with the rights of the
referencing table's owner, checked when written; mlops.declared_references_of lists them for merges."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from psycopg.rows import dict_row

SCHEMA_SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigint PRIMARY KEY, name text);
CREATE TABLE shop.accounts (id uuid PRIMARY KEY);
CREATE TABLE shop.lines (order_id int, product_id int, PRIMARY KEY (order_id, product_id));
CREATE TABLE shop.logbook (note text);
CREATE TABLE shop.orders (
    id bigint PRIMARY KEY, customer_code text, customer_id bigint REFERENCES shop.customers, small_ref int,
    account_no int, payload jsonb, record_type text, record_id bigint, account_code text
);
CREATE VIEW shop.order_view AS SELECT * FROM shop.orders;
CREATE TABLE shop.events (id int, customer_id bigint, day date) PARTITION BY RANGE (day);
CREATE TABLE shop.events_2022 PARTITION OF shop.events FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
"""

COLUMNS = "referencing_table, id_column, target, type_column, type_value, json_path"
WRITER_GRANTS = (
    "GRANT USAGE ON SCHEMA mlops TO {role}; GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mlops TO {role};"
    f" GRANT SELECT, INSERT ({COLUMNS}), UPDATE ({COLUMNS}), DELETE ON mlops.declared_references TO {{role}}"
)


@pytest.fixture
def shop(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(SCHEMA_SQL)
    return conn


@pytest.fixture
def make_role(dsn: str) -> Iterator[Callable[[], str]]:
    """LOGIN roles with unique names (roles are cluster-wide), with what a declaration writer needs of the package;
    dropped afterwards with what they own."""
    created: list[str] = []

    def create() -> str:
        role = f"declarer_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
            admin.execute(WRITER_GRANTS.format(role=role))
            admin.execute(f"GRANT USAGE, CREATE ON SCHEMA shop TO {role}")
            # as an FK would need: REFERENCES on the tables it declares references to
            admin.execute(f"GRANT REFERENCES ON ALL TABLES IN SCHEMA shop TO {role}")
        created.append(role)
        return role

    yield create
    with psycopg.connect(dsn, autocommit=True) as admin:
        for role in created:
            admin.execute(f"REASSIGN OWNED BY {role} TO CURRENT_USER")  # the shop's tables some tests gave it
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


def declare(conn: psycopg.Connection, table: str, column: str, target: str, type_column=None, type_value=None,
            json_path=None) -> int:  # fmt: skip
    return conn.execute(
        f"INSERT INTO mlops.declared_references ({COLUMNS}) VALUES (%s::regclass, %s, %s::regclass, %s, %s, %s)"
        " RETURNING reference_id",
        (table, column, target, type_column, type_value, json_path),
    ).fetchone()[0]


def declarations(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        f"SELECT {COLUMNS}, declared_by FROM mlops.declared_references ORDER BY reference_id"
    ).fetchall()


# ---------------------------------------------------------------- who may declare


def test_the_owner_of_the_referencing_table_declares(dsn: str, shop: psycopg.Connection, make_role) -> None:
    owner = make_role()
    shop.execute(f"ALTER TABLE shop.orders OWNER TO {owner}")
    with psycopg.connect(dsn, user=owner, autocommit=True) as role_conn:
        declare(role_conn, "shop.orders", "customer_code", "shop.customers")
    assert declarations(shop) == [("shop.orders", "customer_code", "shop.customers", None, None, None, owner)]


def test_a_member_of_the_owner_role_declares(dsn: str, shop: psycopg.Connection, make_role) -> None:
    owner, member = make_role(), make_role()
    shop.execute(f"ALTER TABLE shop.orders OWNER TO {owner}; GRANT {owner} TO {member}")
    with psycopg.connect(dsn, user=member, autocommit=True) as role_conn:
        declare(role_conn, "shop.orders", "customer_code", "shop.customers")
    assert [d[-1] for d in declarations(shop)] == [member]


def test_a_role_without_the_owners_rights_cannot_declare_change_or_delete(
    dsn: str, shop: psycopg.Connection, make_role
) -> None:
    other = make_role()
    shop.execute(f"GRANT SELECT ON shop.orders TO {other}")
    with psycopg.connect(dsn, user=other, autocommit=True) as role_conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
            declare(role_conn, "shop.orders", "customer_code", "shop.customers")
        assert exc.value.sqlstate == "42501"
        assert f"role {other} may not declare references of shop.orders: it lacks the rights of its owner" in str(
            exc.value
        )
        assert exc.value.diag.message_hint == "Declare it as postgres (or a member of it)."
        # it reads what the owner declared, and can neither change nor delete it
        declare(shop, "shop.orders", "customer_code", "shop.customers")
        assert role_conn.execute("SELECT count(*) FROM mlops.declared_references").fetchone() == (1,)
        assert role_conn.execute("UPDATE mlops.declared_references SET id_column = 'small_ref'").rowcount == 0
        assert role_conn.execute("DELETE FROM mlops.declared_references").rowcount == 0
    assert declarations(shop) == [("shop.orders", "customer_code", "shop.customers", None, None, None, "postgres")]


def test_declared_by_and_declared_at_are_stamped(shop: psycopg.Connection) -> None:
    shop.execute(
        "INSERT INTO mlops.declared_references (referencing_table, id_column, target, declared_by, declared_at)"
        " VALUES ('shop.orders', 'customer_code', 'shop.customers', 'mallory', '2000-01-01')"
    )
    assert shop.execute(
        "SELECT declared_by, declared_at > now() - interval '1 minute' FROM mlops.declared_references"
    ).fetchone() == ("postgres", True)


# ---------------------------------------------------------------- what is accepted


def test_plain_polymorphic_and_json_references_are_accepted(shop: psycopg.Connection) -> None:
    declare(shop, "shop.orders", "customer_code", "shop.customers")  # text holding integer keys
    declare(shop, "shop.orders", "small_ref", "shop.customers")  # integer column, bigint keys
    declare(shop, "shop.orders", "account_code", "shop.accounts")  # text holding uuids
    declare(shop, "shop.orders", "record_id", "shop.customers", "record_type", "Customer")
    declare(shop, "shop.orders", "payload", "shop.accounts", json_path=["account", "id"])
    assert len(declarations(shop)) == 5


def test_the_same_declaration_twice_is_refused(shop: psycopg.Connection) -> None:
    declare(shop, "shop.orders", "customer_code", "shop.customers")
    with pytest.raises(psycopg.errors.UniqueViolation) as exc:
        declare(shop, "shop.orders", "customer_code", "shop.customers")  # NULL type and path: still the same
    assert exc.value.sqlstate == "23505"
    assert "declared_references_referencing_table_id_column_key" in str(exc.value)
    # one target per column: the same column declared to another table is refused too
    with pytest.raises(psycopg.errors.UniqueViolation):
        declare(shop, "shop.orders", "customer_code", "shop.accounts")


@pytest.mark.parametrize(
    ("args", "sqlstate", "message", "hint"),
    [
        (
            ("shop.orders", "nope", "shop.customers"),
            "42703",
            "column nope of shop.orders does not exist",
            "id_column names the column",
        ),
        (
            ("shop.orders", "record_id", "shop.customers", "kind", "Customer"),
            "42703",
            "column kind of shop.orders does not exist",
            "type_column names the column",
        ),
        (
            ("shop.orders", "record_id", "shop.customers", "record_type", None),
            "22023",
            "declared reference shop.orders.record_id: type_column and type_value go together",
            "A polymorphic pair sets both",
        ),
        (
            ("shop.orders", "record_id", "shop.customers", None, "Customer"),
            "22023",
            "type_column and type_value go together",
            "A polymorphic pair sets both",
        ),
        (
            ("shop.orders", "record_id", "shop.customers", "record_id", "Customer"),
            "22023",
            "type_column must be another column than id_column",
            "A polymorphic pair is two columns",
        ),
        (
            ("shop.orders", "customer_code", "shop.customers", None, None, ["id"]),
            "22023",
            "declared reference shop.orders.customer_code: json_path is only for json or jsonb columns, not text",
            "Leave json_path NULL",
        ),
        (
            ("shop.orders", "payload", "shop.customers"),
            "22023",
            "declared reference shop.orders.payload: column payload is jsonb, json_path must say where the key is",
            "id_column #>> json_path",
        ),
        (
            ("shop.orders", "customer_code", "shop.lines"),
            "0A000",
            "cannot merge rows of shop.lines: its primary key (order_id, product_id) has more than one column",
            "Add a single-column key",
        ),
        (
            ("shop.orders", "customer_code", "shop.logbook"),
            "0A000",
            "cannot merge rows of shop.logbook: it has no primary key",
            "Add a primary key to shop.logbook.",
        ),
        (
            ("shop.orders", "account_no", "shop.accounts"),
            "42804",
            "declared reference shop.orders.account_no: a column of type integer cannot hold keys of shop.accounts"
            " (shop.accounts.id is uuid)",
            "Check id_column and target.",
        ),
        (
            ("shop.orders", "customer_id", "shop.customers"),
            "42710",
            "declared reference shop.orders.customer_id -> shop.customers duplicates foreign key"
            " orders_customer_id_fkey",
            "this one needs no declaration",
        ),
        (
            ("shop.order_view", "customer_code", "shop.customers"),
            "42809",
            "cannot declare a reference from shop.order_view: it is not a table",
            "Declare references of ordinary or partitioned tables",
        ),
        (
            ("mlops.merges", "survivor_key", "shop.customers"),
            "22023",
            "cannot declare a reference from mlops.merges: it is a table of the mlops-dedup package",
            "Declare references of your own tables.",
        ),
        (
            ("shop.orders", "customer_code", "mlops.dedup_runs"),
            "22023",
            "mlops.dedup_runs is a table of the mlops-dedup package",
            "Merge rows of your own tables",
        ),
    ],
)
def test_a_declaration_merges_could_not_follow_is_refused(
    shop: psycopg.Connection, args: tuple, sqlstate: str, message: str, hint: str
) -> None:
    with pytest.raises(psycopg.Error) as exc:
        declare(shop, *args)
    assert exc.value.sqlstate == sqlstate
    assert message in str(exc.value)
    assert hint in (exc.value.diag.message_hint or "")
    assert declarations(shop) == []


def test_an_update_is_checked_like_an_insert(shop: psycopg.Connection) -> None:
    reference_id = declare(shop, "shop.orders", "customer_code", "shop.customers")
    with pytest.raises(psycopg.errors.UndefinedColumn) as exc:
        shop.execute("UPDATE mlops.declared_references SET id_column = 'gone' WHERE reference_id = %s", (reference_id,))
    assert exc.value.sqlstate == "42703"
    assert "column gone of shop.orders does not exist" in str(exc.value)
    assert declarations(shop)[0][1] == "customer_code"


# ---------------------------------------------------------------- declared_references_of


def test_declared_references_of_lists_a_tables_declarations(shop: psycopg.Connection) -> None:
    declare(shop, "shop.orders", "customer_code", "shop.customers")
    declare(shop, "shop.orders", "record_id", "shop.customers", "record_type", "Customer")
    declare(shop, "shop.orders", "payload", "shop.customers", json_path=["customer", "id"])
    declare(shop, "shop.orders", "account_code", "shop.accounts")  # another target
    with shop.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM mlops.declared_references_of('shop.customers')").fetchall()
    assert shop.execute(
        "SELECT pg_get_function_result('mlops.declared_references_of(regclass)'::regprocedure)"
    ).fetchone() == (
        "TABLE(reference_id bigint, referencing_table regclass, id_column text, type_column text, type_value text,"
        " json_path text[], reference_name text)",
    )
    assert [
        (r["referencing_table"], r["id_column"], r["type_column"], r["type_value"], r["json_path"], r["reference_name"])
        for r in rows
    ] == [
        ("shop.orders", "customer_code", None, None, None, "declared:orders.customer_code"),
        ("shop.orders", "payload", None, None, ["customer", "id"], "declared:orders.payload#>{customer,id}"),
        (
            "shop.orders",
            "record_id",
            "record_type",
            "Customer",
            None,
            "declared:orders.record_id[record_type=Customer]",
        ),
    ]


def test_a_partitioned_tables_declaration_is_listed_once(shop: psycopg.Connection) -> None:
    declare(shop, "shop.events_2022", "customer_id", "shop.customers")
    declare(shop, "shop.events", "customer_id", "shop.customers")
    assert shop.execute(
        "SELECT referencing_table::text, reference_name FROM mlops.declared_references_of('shop.customers')"
    ).fetchall() == [("shop.events", "declared:events.customer_id")]


def test_declarations_of_a_dropped_table_are_left_out(shop: psycopg.Connection) -> None:
    shop.execute("CREATE TABLE shop.notes (id int, customer_id bigint)")
    declare(shop, "shop.notes", "customer_id", "shop.customers")
    shop.execute("DROP TABLE shop.notes")
    assert shop.execute("SELECT * FROM mlops.declared_references_of('shop.customers')").fetchall() == []


def test_declared_references_of_refuses_null_and_non_tables(shop: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as exc:
        shop.execute("SELECT * FROM mlops.declared_references_of(NULL)")
    assert exc.value.sqlstate == "22004"
    with pytest.raises(psycopg.errors.WrongObjectType) as exc:
        shop.execute("SELECT * FROM mlops.declared_references_of('shop.order_view')")
    assert exc.value.sqlstate == "42809"
    assert "shop.order_view is not a table" in str(exc.value)


# ---------------------------------------------------------------- grants


def test_merging_roles_read_declarations_and_rule_writers_write_them(shop: psycopg.Connection) -> None:
    def privileges(rule_writer: bool) -> list[str]:
        return [
            privilege
            for (privilege,) in shop.execute(
                "SELECT privilege FROM mlops.usage_privileges(%s) WHERE object_name = 'mlops.declared_references'",
                (rule_writer,),
            )
        ]

    assert privileges(False) == ["SELECT"]
    assert privileges(True) == [
        "SELECT",
        f"INSERT ({COLUMNS})",
        f"UPDATE ({COLUMNS})",
        "DELETE",
    ]
