"""mlops.referencing_fks: every FK to a table, found by OID, whatever its shape or schema."""

import psycopg
import pytest
from psycopg.rows import dict_row

GENERIC_SCHEMA = """
CREATE SCHEMA shop;
CREATE SCHEMA "Other Schema";
CREATE TABLE shop.customers (
    id integer PRIMARY KEY,
    region text NOT NULL,
    code text NOT NULL,
    parent_id integer REFERENCES shop.customers (id) ON DELETE SET NULL,
    CONSTRAINT customers_region_code_key UNIQUE (region, code)
);
CREATE TABLE shop.addresses (
    id integer PRIMARY KEY,
    cust_code text,
    cust_region text,
    CONSTRAINT addresses_cust_fkey FOREIGN KEY (cust_region, cust_code)
        REFERENCES shop.customers (region, code) ON UPDATE CASCADE
);
CREATE TABLE "Other Schema"."Order Lines" (
    id integer PRIMARY KEY,
    "Customer Id" integer,
    CONSTRAINT "Order Lines_cust_fkey" FOREIGN KEY ("Customer Id") REFERENCES shop.customers (id)
        ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED
);
CREATE TABLE shop.events (
    id integer NOT NULL,
    at date NOT NULL,
    customer_id integer REFERENCES shop.customers (id) ON DELETE CASCADE,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE shop.events_2025 PARTITION OF shop.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE shop.unrelated (id integer PRIMARY KEY, other_id integer REFERENCES shop.addresses (id));
"""


@pytest.fixture
def generic(conn: psycopg.Connection) -> dict[str, dict]:
    conn.execute(GENERIC_SCHEMA)
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute("SELECT * FROM mlops.referencing_fks('shop.customers')").fetchall()
    return {r["referencing_table"]: r for r in rows}


def test_referencing_fks_finds_every_referencing_table_once(generic: dict[str, dict]) -> None:
    assert sorted(generic) == ['"Other Schema"."Order Lines"', "shop.addresses", "shop.customers", "shop.events"]


def test_referencing_fks_pairs_composite_columns_in_key_order(generic: dict[str, dict]) -> None:
    fk = generic["shop.addresses"]
    assert fk["referencing_columns"] == ["cust_region", "cust_code"]
    assert fk["referenced_columns"] == ["region", "code"]
    assert (fk["on_delete"], fk["on_update"]) == ("NO ACTION", "CASCADE")


def test_referencing_fks_includes_self_reference(generic: dict[str, dict]) -> None:
    fk = generic["shop.customers"]
    assert fk["referencing_columns"] == ["parent_id"]
    assert fk["referenced_table"] == "shop.customers"
    assert fk["on_delete"] == "SET NULL"


def test_referencing_fks_handles_quoted_identifiers_in_other_schema(generic: dict[str, dict]) -> None:
    fk = generic['"Other Schema"."Order Lines"']
    assert fk["fk_name"] == "Order Lines_cust_fkey"
    assert fk["referencing_columns"] == ["Customer Id"]
    assert (fk["on_delete"], fk["is_deferrable"], fk["initially_deferred"]) == ("RESTRICT", True, True)


def test_referencing_fks_lists_partitioned_table_once(conn: psycopg.Connection, generic: dict[str, dict]) -> None:
    per_partition = conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND confrelid = 'shop.customers'::regclass"
        " AND conrelid::regclass::text LIKE 'shop.events%'"
    ).fetchone()[0]
    assert per_partition == 3  # parent and two partitions in the catalog ...
    assert generic["shop.events"]["on_delete"] == "CASCADE"  # ... one row here


def test_referencing_fks_platform_tables(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT referencing_table::text, referencing_columns, on_delete"
        " FROM mlops.referencing_fks('mlops.job_postings')"
    ).fetchall()
    assert rows == [
        ("mlops.job_recommendations", ["job_id"], "CASCADE"),
        ("mlops.user_interactions", ["job_id"], "CASCADE"),
    ]


def test_referencing_fks_of_unreferenced_table_is_empty(conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT count(*) FROM mlops.referencing_fks('mlops.user_interactions')").fetchone()[0] == 0


def test_referencing_fks_rejects_null(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.NullValueNotAllowed) as exc:
        conn.execute("SELECT * FROM mlops.referencing_fks(NULL)")
    assert exc.value.sqlstate == "22004"
    assert "target table must not be NULL" in str(exc.value)


def test_referencing_fks_rejects_unknown_table(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable) as exc:
        conn.execute("SELECT * FROM mlops.referencing_fks('mlops.no_such_table')")
    assert exc.value.sqlstate == "42P01"
    assert 'relation "mlops.no_such_table" does not exist' in str(exc.value)


def test_referencing_fks_rejects_a_view(conn: psycopg.Connection) -> None:
    conn.execute("CREATE VIEW mlops.recent_jobs AS SELECT * FROM mlops.job_postings")
    with pytest.raises(psycopg.errors.WrongObjectType) as exc:
        conn.execute("SELECT * FROM mlops.referencing_fks('mlops.recent_jobs')")
    assert exc.value.sqlstate == "42809"
    assert "mlops.recent_jobs is not a table" in str(exc.value)
