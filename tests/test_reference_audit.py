"""The FK audit's rows for references no FK covers: partitions and inheritance children missing their siblings' FK,
columns and polymorphic pairs whose values are keys of a table named like them, declared references; data_quality
counts them and runner.py audit prints them."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg.rows import dict_row

import runner

# Pagila's payments: partitioned by month, the FKs created on each partition (none on the parent); the July
# partition lacks the staff FK. A legacy inheritance child lacks its parent's FK (FKs are not inherited).
PAGILA_SQL = """
CREATE SCHEMA pagila;
CREATE TABLE pagila.staff (staff_id int PRIMARY KEY, name text);
CREATE TABLE pagila.customer (customer_id int PRIMARY KEY, name text);
CREATE TABLE pagila.payment (
    payment_id int NOT NULL, customer_id int NOT NULL, staff_id int NOT NULL, amount numeric,
    payment_date timestamptz NOT NULL, PRIMARY KEY (payment_date, payment_id)
) PARTITION BY RANGE (payment_date);
DO $$
BEGIN
    FOR m IN 1..7 LOOP
        EXECUTE format(
            'CREATE TABLE pagila.payment_p2022_%1$s PARTITION OF pagila.payment FOR VALUES FROM (%2$L) TO (%3$L);'
            'ALTER TABLE pagila.payment_p2022_%1$s ADD CONSTRAINT payment_p2022_%1$s_customer_id_fkey'
            ' FOREIGN KEY (customer_id) REFERENCES pagila.customer (customer_id)',
            lpad(m::text, 2, '0'), make_date(2022, m, 1), make_date(2022, m + 1, 1));
        IF m < 7 THEN
            EXECUTE format('ALTER TABLE pagila.payment_p2022_%1$s ADD CONSTRAINT payment_p2022_%1$s_staff_id_fkey'
                ' FOREIGN KEY (staff_id) REFERENCES pagila.staff (staff_id) ON UPDATE CASCADE ON DELETE RESTRICT',
                lpad(m::text, 2, '0'));
        END IF;
    END LOOP;
END $$;
INSERT INTO pagila.staff VALUES (1, 'Mike'), (2, 'Jon');
INSERT INTO pagila.customer SELECT g, 'c' || g FROM generate_series(1, 20) AS g;
INSERT INTO pagila.payment
SELECT g, 1 + g % 20, 1 + g % 2, 1.99, make_date(2022, 1 + g % 7, 3) FROM generate_series(1, 100) AS g;
CREATE TABLE pagila.rental (rental_id int PRIMARY KEY, customer_id int REFERENCES pagila.customer);
CREATE TABLE pagila.rental_2019 () INHERITS (pagila.rental);
"""

# A shop whose orders reference customers, categories and accounts by convention only; warehouse_id's values are
# not warehouses' keys.
SHOP_SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id bigint PRIMARY KEY, name text);
CREATE TABLE shop.categories (id int PRIMARY KEY, name text);
CREATE TABLE shop.warehouses (id int PRIMARY KEY);
CREATE TABLE shop.accounts (id uuid PRIMARY KEY);
CREATE TABLE shop.orders (
    id bigint PRIMARY KEY, customer_id bigint, category_id bigint, warehouse_id int, account_id text
);
INSERT INTO shop.customers SELECT g, 'c' || g FROM generate_series(1, 50) AS g;
INSERT INTO shop.categories SELECT g, 'k' || g FROM generate_series(1, 5) AS g;
INSERT INTO shop.warehouses SELECT g FROM generate_series(1, 5) AS g;
INSERT INTO shop.accounts
SELECT ('00000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid FROM generate_series(1, 10) AS g;
INSERT INTO shop.orders
SELECT g, 1 + g % 50, 1 + g % 5, 900 + g, '00000000-0000-4000-8000-' || lpad((1 + g % 10)::text, 12, '0')
FROM generate_series(1, 200) AS g;
"""

# Rails' Active Storage: attachments of users and of Blog::Post records, by (record_type, record_id); and a
# schema-qualified type value.
RAILS_SQL = """
CREATE TABLE public.users (id bigint PRIMARY KEY, email text);
CREATE TABLE public.blog_posts (id bigint PRIMARY KEY, title text);
CREATE TABLE public.active_storage_blobs (id bigint PRIMARY KEY, key text);
CREATE TABLE public.active_storage_attachments (
    id bigint PRIMARY KEY, name text, record_type text NOT NULL, record_id bigint NOT NULL,
    blob_id bigint NOT NULL REFERENCES public.active_storage_blobs (id)
);
CREATE SCHEMA app;
CREATE TABLE app.users (id bigint PRIMARY KEY);
INSERT INTO public.users SELECT g, 'u' || g FROM generate_series(1, 30) AS g;
INSERT INTO public.blog_posts SELECT g, 't' || g FROM generate_series(100, 120) AS g;
INSERT INTO app.users SELECT g FROM generate_series(500, 510) AS g;
INSERT INTO public.active_storage_blobs SELECT g, 'k' || g FROM generate_series(1, 80) AS g;
INSERT INTO public.active_storage_attachments
SELECT g, 'avatar', 'User', 1 + g % 30, g FROM generate_series(1, 30) AS g
UNION ALL SELECT g, 'cover', 'Blog::Post', 100 + g % 20, g FROM generate_series(31, 60) AS g
UNION ALL SELECT g, 'badge', 'app.users', 500 + g % 10, g FROM generate_series(61, 70) AS g
UNION ALL SELECT g, 'logo', 'Company', g, g FROM generate_series(71, 80) AS g;
"""

FINDINGS = ("missing_on_partition", "undeclared_reference", "undeclared_polymorphic", "declared")


@pytest.fixture
def schemas(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(PAGILA_SQL)
    conn.execute(SHOP_SQL)
    conn.execute(RAILS_SQL)
    return conn


def findings(conn: psycopg.Connection, schema: str | None = None) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT fk_name, referencing_table::text, referencing_columns, referenced_table::text, referenced_columns,"
            " on_delete, on_update, indexed, risk, detail FROM mlops.fk_policy_report(%s::text)"
            " WHERE risk = ANY (%s)",
            (schema, list(FINDINGS)),
        )
        return cur.fetchall()


def by_column(rows: list[dict], risk: str) -> dict[tuple[str, tuple[str, ...]], dict]:
    return {(r["referencing_table"], tuple(r["referencing_columns"])): r for r in rows if r["risk"] == risk}


# ---------------------------------------------------------------- partitions and inheritance children


def test_partition_lacking_the_fk_its_siblings_carry_is_flagged(schemas: psycopg.Connection) -> None:
    missing = by_column(findings(schemas, "pagila"), "missing_on_partition")
    row = missing[("pagila.payment_p2022_07", ("staff_id",))]
    assert (row["fk_name"], row["referenced_table"], row["referenced_columns"]) == (None, "pagila.staff", ["staff_id"])
    assert (row["on_delete"], row["on_update"], row["indexed"]) == ("RESTRICT", "CASCADE", False)
    assert row["detail"].startswith(
        "6 of its siblings under pagila.payment carry a foreign key (staff_id) -> pagila.staff"
        " (e.g. payment_p2022_01_staff_id_fkey on pagila.payment_p2022_01), pagila.payment_p2022_07 does not"
    )
    # every partition carries the customer FK: nothing else is missing there
    assert [k for k in missing if k[0].startswith("pagila.payment")] == [("pagila.payment_p2022_07", ("staff_id",))]


def test_the_fix_in_the_detail_adds_the_missing_fk(schemas: psycopg.Connection) -> None:
    row = by_column(findings(schemas, "pagila"), "missing_on_partition")[("pagila.payment_p2022_07", ("staff_id",))]
    fix = row["detail"].split("Fix: ", 1)[1]
    assert fix == (
        "ALTER TABLE pagila.payment_p2022_07 ADD CONSTRAINT payment_p2022_07_staff_id_fkey FOREIGN KEY (staff_id)"
        " REFERENCES pagila.staff(staff_id) ON UPDATE CASCADE ON DELETE RESTRICT NOT VALID;"
        " ALTER TABLE pagila.payment_p2022_07 VALIDATE CONSTRAINT payment_p2022_07_staff_id_fkey;"
    )
    schemas.execute(fix)
    assert by_column(findings(schemas, "pagila"), "missing_on_partition").keys() == {
        ("pagila.rental_2019", ("customer_id",))
    }
    (deletable,) = schemas.execute(
        "SELECT count(*) FROM mlops.referencing_fks('pagila.staff')"
        " WHERE referencing_table::text LIKE 'pagila.payment_%'"
    ).fetchone()
    assert deletable == 7


def test_inheritance_child_lacking_its_parents_fk_is_flagged(schemas: psycopg.Connection) -> None:
    row = by_column(findings(schemas), "missing_on_partition")[("pagila.rental_2019", ("customer_id",))]
    assert row["referenced_table"] == "pagila.customer"
    assert row["detail"].startswith(
        "its inheritance parent pagila.rental carries a foreign key (customer_id) -> pagila.customer"
        " (rental_customer_id_fkey), pagila.rental_2019 does not (foreign keys are not inherited)"
    )


def test_fk_on_the_partitioned_parent_is_on_every_partition(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE staff (id int PRIMARY KEY);"
        " CREATE TABLE visit (id int, staff_id int REFERENCES staff, day date, PRIMARY KEY (day, id))"
        " PARTITION BY RANGE (day);"
        " CREATE TABLE visit_a PARTITION OF visit FOR VALUES FROM ('2022-01-01') TO ('2022-02-01');"
        " CREATE TABLE visit_b PARTITION OF visit FOR VALUES FROM ('2022-02-01') TO ('2022-03-01');"
        " CREATE TABLE visit_c (LIKE visit);"
        " ALTER TABLE visit ATTACH PARTITION visit_c FOR VALUES FROM ('2022-03-01') TO ('2022-04-01')"
    )
    assert findings(conn, "public") == []


# ---------------------------------------------------------------- columns named like references


def test_undeclared_reference_column_is_flagged_with_its_target_and_share(schemas: psycopg.Connection) -> None:
    row = by_column(findings(schemas, "shop"), "undeclared_reference")[("shop.orders", ("customer_id",))]
    assert (row["fk_name"], row["referenced_table"], row["referenced_columns"]) == (None, "shop.customers", ["id"])
    assert (row["on_delete"], row["on_update"], row["indexed"]) == (None, None, False)
    assert row["detail"].startswith("50 of 50 sampled values are keys of shop.customers (100.0 %)")
    assert (
        "Fix: ALTER TABLE shop.orders ADD CONSTRAINT orders_customer_id_fkey FOREIGN KEY (customer_id)"
        " REFERENCES shop.customers (id) NOT VALID; ALTER TABLE shop.orders VALIDATE CONSTRAINT"
        " orders_customer_id_fkey;" in row["detail"]
    )


def test_the_suggested_fk_holds_and_then_covers_the_column(schemas: psycopg.Connection) -> None:
    row = by_column(findings(schemas, "shop"), "undeclared_reference")[("shop.orders", ("category_id",))]
    fk = row["detail"].split("Fix: ", 1)[1].split(" or, to keep it", 1)[0]
    schemas.execute(fk)  # bigint column, integer key: an FK PostgreSQL accepts, and the data satisfies it
    assert ("shop.orders", ("category_id",)) not in by_column(findings(schemas, "shop"), "undeclared_reference")
    assert schemas.execute(
        "SELECT risk FROM mlops.fk_policy_report('shop') WHERE fk_name = 'orders_category_id_fkey'"
    ).fetchall() == [("blocks_delete",)]


def test_plural_in_ies_is_found(schemas: psycopg.Connection) -> None:
    row = by_column(findings(schemas, "shop"), "undeclared_reference")[("shop.orders", ("category_id",))]
    assert row["referenced_table"] == "shop.categories"


def test_text_column_holding_uuids_is_flagged_with_a_declaration(schemas: psycopg.Connection) -> None:
    row = by_column(findings(schemas, "shop"), "undeclared_reference")[("shop.orders", ("account_id",))]
    assert row["referenced_table"] == "shop.accounts"
    assert row["detail"].endswith(
        "Fix: declare it (its type differs from the key's, so no FK): INSERT INTO mlops.declared_references"
        " (referencing_table, id_column, target) VALUES ('shop.orders', 'account_id', 'shop.accounts');"
    )


def test_values_that_are_no_valid_key_count_as_not_found(schemas: psycopg.Connection) -> None:
    schemas.execute("UPDATE shop.orders SET account_id = 'n/a' WHERE id = 1")
    row = by_column(findings(schemas, "shop"), "undeclared_reference")[("shop.orders", ("account_id",))]
    assert row["detail"].startswith("10 of 11 sampled values are keys of shop.accounts (90.9 %)")
    schemas.execute("UPDATE shop.orders SET account_id = 'x' || id WHERE id <= 5")
    assert ("shop.orders", ("account_id",)) not in by_column(findings(schemas, "shop"), "undeclared_reference")


def test_column_whose_values_are_not_keys_is_not_flagged(schemas: psycopg.Connection) -> None:
    flagged = by_column(findings(schemas, "shop"), "undeclared_reference")
    assert ("shop.orders", ("warehouse_id",)) not in flagged  # 901..1100 against warehouses 1..5
    assert set(flagged) == {
        ("shop.orders", ("customer_id",)),
        ("shop.orders", ("category_id",)),
        ("shop.orders", ("account_id",)),
    }


def test_a_tables_own_key_is_not_a_reference(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE SCHEMA a; CREATE SCHEMA b;"
        " CREATE TABLE a.customer (customer_id int PRIMARY KEY);"
        " CREATE TABLE b.customers (id int PRIMARY KEY);"
        " INSERT INTO a.customer SELECT generate_series(1, 5); INSERT INTO b.customers SELECT generate_series(1, 9)"
    )
    assert findings(conn) == []


def test_same_schema_table_is_preferred(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE SCHEMA a; CREATE SCHEMA b;"
        " CREATE TABLE a.customers (id int PRIMARY KEY); CREATE TABLE b.customer (id int PRIMARY KEY);"
        " CREATE TABLE b.orders (id int PRIMARY KEY, customer_id int);"
        " INSERT INTO a.customers SELECT generate_series(1, 9); INSERT INTO b.customer SELECT generate_series(1, 9);"
        " INSERT INTO b.orders SELECT g, g FROM generate_series(1, 9) AS g"
    )
    assert [(r["referencing_table"], r["referenced_table"]) for r in findings(conn)] == [("b.orders", "b.customer")]


def test_column_named_word_id_without_underscore_is_a_candidate(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE people (id int PRIMARY KEY); CREATE TABLE visits (id int PRIMARY KEY, personid int);"
        " INSERT INTO people SELECT generate_series(1, 9);"
        " INSERT INTO visits SELECT g, g FROM generate_series(1, 9) AS g"
    )
    assert [(r["referencing_columns"], r["referenced_table"]) for r in findings(conn, "public")] == [
        (["personid"], "people")
    ]


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("customer", ["customer", "customers", "customeres"]),
        ("category", ["category", "categorys", "categoryes", "categories"]),
        ("sales_person", ["sales_person", "sales_persons", "sales_persones", "sales_people"]),
        ("User", ["user", "users", "useres"]),
        ("UserProfile", ["user_profile", "user_profiles", "user_profilees"]),
        ("Blog::Post", ["blog_post", "blog_posts", "blog_postes", "post", "posts", "postes"]),
    ],
)
def test_table_names_a_reference_name_points_at(conn: psycopg.Connection, name: str, first: list[str]) -> None:
    assert conn.execute("SELECT mlops.audit_table_names(%s)", (name,)).fetchone() == (first,)


def test_empty_column_is_not_flagged(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE customers (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY, customer_id int);"
        " INSERT INTO customers VALUES (1); INSERT INTO orders VALUES (1, NULL)"
    )
    assert findings(conn, "public") == []


# ---------------------------------------------------------------- polymorphic pairs


def test_polymorphic_pair_is_flagged_once_per_type_value_and_table(schemas: psycopg.Connection) -> None:
    rows = sorted(
        (r for r in findings(schemas) if r["risk"] == "undeclared_polymorphic"), key=lambda r: r["referenced_table"]
    )
    assert [(r["referencing_table"], r["referencing_columns"], r["referenced_table"]) for r in rows] == [
        ("active_storage_attachments", ["record_type", "record_id"], "app.users"),
        ("active_storage_attachments", ["record_type", "record_id"], "blog_posts"),
        ("active_storage_attachments", ["record_type", "record_id"], "users"),
    ]
    details = {r["referenced_table"]: r["detail"] for r in rows}
    assert details["blog_posts"].startswith(
        "record_type = 'Blog::Post': 20 of 20 sampled ids are keys of public.blog_posts (100.0 %)"
    )
    assert details["app.users"].startswith("record_type = 'app.users': 10 of 10 sampled ids are keys of app.users")
    assert details["users"].endswith(
        "Fix: INSERT INTO mlops.declared_references (referencing_table, id_column, target, type_column, type_value)"
        " VALUES ('public.active_storage_attachments', 'record_id', 'public.users', 'record_type', 'User');"
    )
    # 'Company' names no table; record_id is no plain reference; blob_id has its FK
    assert [r for r in findings(schemas) if r["referencing_table"] == "active_storage_attachments"] == sorted(
        rows, key=lambda r: r["detail"].split(":", 1)[0]
    )


def test_polymorphic_ids_that_are_not_keys_are_not_flagged(schemas: psycopg.Connection) -> None:
    schemas.execute(
        "UPDATE public.active_storage_attachments SET record_id = record_id + 1000 WHERE record_type = 'User'"
    )
    rows = [r for r in findings(schemas) if r["risk"] == "undeclared_polymorphic"]
    assert sorted(r["referenced_table"] for r in rows) == ["app.users", "blog_posts"]


# ---------------------------------------------------------------- declared references


def test_declared_references_cover_their_columns_and_are_listed(schemas: psycopg.Connection) -> None:
    schemas.execute(
        "INSERT INTO mlops.declared_references (referencing_table, id_column, target) VALUES"
        " ('shop.orders', 'account_id', 'shop.accounts');"
        " INSERT INTO mlops.declared_references (referencing_table, id_column, target, type_column, type_value)"
        " VALUES ('active_storage_attachments', 'record_id', 'users', 'record_type', 'User')"
    )
    rows = findings(schemas)
    declared = [r for r in rows if r["risk"] == "declared"]
    assert [
        (r["fk_name"], r["referencing_table"], r["referencing_columns"], r["referenced_table"]) for r in declared
    ] == [
        (
            "declared:active_storage_attachments.record_id[record_type=User]",
            "active_storage_attachments",
            ["record_type", "record_id"],
            "users",
        ),
        ("declared:orders.account_id", "shop.orders", ["account_id"], "shop.accounts"),
    ]
    assert declared[1]["referenced_columns"] == ["id"] and declared[1]["indexed"] is False
    assert declared[1]["detail"].startswith("Declared reference (declared by postgres at ")
    assert ("shop.orders", ("account_id",)) not in by_column(rows, "undeclared_reference")
    assert sorted(r["referenced_table"] for r in rows if r["risk"] == "undeclared_polymorphic") == [
        "app.users",
        "blog_posts",
    ]


def test_declaring_another_table_for_a_type_value_covers_it(schemas: psycopg.Connection) -> None:
    schemas.execute(
        "INSERT INTO mlops.declared_references (referencing_table, id_column, target, type_column, type_value)"
        " VALUES ('active_storage_attachments', 'record_id', 'app.users', 'record_type', 'User')"
    )
    assert sorted(r["referenced_table"] for r in findings(schemas) if r["risk"] == "undeclared_polymorphic") == [
        "app.users",
        "blog_posts",
    ]


# ---------------------------------------------------------------- unindexed FKs, rights, report shape


def test_unindexed_fk_is_still_flagged_with_its_index(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE tag (id int PRIMARY KEY); CREATE TABLE note (id int PRIMARY KEY, tag_id int REFERENCES tag)"
    )
    with conn.cursor(row_factory=dict_row) as cur:
        (row,) = cur.execute("SELECT * FROM mlops.fk_policy_report('public')").fetchall()
    assert (row["fk_name"], row["indexed"], row["risk"]) == ("note_tag_id_fkey", False, "blocks_delete")
    assert row["detail"].endswith("Fix: CREATE INDEX CONCURRENTLY ON public.note (tag_id);")
    conn.execute(row["detail"].split("Fix: ", 1)[1])
    with conn.cursor(row_factory=dict_row) as cur:
        (row,) = cur.execute("SELECT * FROM mlops.fk_policy_report('public')").fetchall()
    assert (row["indexed"], row["detail"]) == (True, None)


def test_tables_the_caller_cannot_read_are_skipped(dsn: str, schemas: psycopg.Connection) -> None:
    role = f"auditor_{uuid.uuid4().hex[:8]}"
    schemas.execute(f"CREATE ROLE {role} LOGIN")
    try:
        # what the report needs of the package (mlops.grant_usage's part of it)
        schemas.execute(
            f"GRANT USAGE ON SCHEMA mlops TO {role}; GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA mlops TO {role};"
            f" GRANT SELECT ON mlops.declared_references TO {role}"
        )
        schemas.execute(
            f"GRANT USAGE ON SCHEMA shop TO {role}; GRANT SELECT ON shop.customers, shop.accounts TO {role}"
        )
        schemas.execute(f"GRANT SELECT (id, category_id, account_id) ON shop.orders TO {role}")
        with psycopg.connect(dsn, user=role, autocommit=True) as other:
            seen = by_column(findings(other, "shop"), "undeclared_reference")
        # customer_id unreadable, categories unreadable: only account_id's evidence is there
        assert set(seen) == {("shop.orders", ("account_id",))}
    finally:
        schemas.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


def test_fk_rows_come_first_and_keep_their_shape(schemas: psycopg.Connection) -> None:
    with schemas.cursor() as cur:
        cur.execute("SELECT * FROM mlops.fk_policy_report()")
        columns = [d.name for d in cur.description]
        risks = [row[8] for row in cur.fetchall()]
    assert columns[-1] == "detail" and len(columns) == 10
    fk_words = {"blocks_delete", "cascades", "sets_null", "sets_default"}
    first_other = next(i for i, risk in enumerate(risks) if risk not in fk_words)
    assert set(risks[:first_other]) <= fk_words and not set(risks[first_other:]) & fk_words


def test_sample_reads_only_the_first_rows(conn: psycopg.Connection) -> None:
    """The bound: at most 1000 distinct values (from the first 100000 rows) are looked up."""
    conn.execute(
        "CREATE TABLE customers (id int PRIMARY KEY); CREATE TABLE orders (id int PRIMARY KEY, customer_id int);"
        " INSERT INTO customers SELECT generate_series(1, 3000);"
        " INSERT INTO orders SELECT g, g FROM generate_series(1, 3000) AS g"
    )
    assert conn.execute(
        "SELECT sampled, matched, matches FROM mlops.audit_key_match('orders', 'customer_id', 'customers')"
    ).fetchone() == (1000, 1000, True)


# ---------------------------------------------------------------- data_quality and runner.py audit


def test_data_quality_counts_the_findings_per_rule_table(schemas: psycopg.Connection) -> None:
    schemas.execute(
        "INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('pagila.staff', 't.name'),"
        " ('shop.customers', 't.name'), ('public.users', 't.email')"
    )
    rows = schemas.execute(
        "SELECT target::text, missing_fk_partitions, undeclared_references, fks_without_index, fks_blocking_deletes"
        " FROM mlops.data_quality WHERE target::text NOT LIKE 'mlops.%' ORDER BY 1"
    ).fetchall()
    assert rows == [("pagila.staff", 1, 0, 6, 6), ("shop.customers", 0, 1, 0, 0), ("users", 0, 1, 0, 0)]


def test_audit_prints_findings_with_a_legend(schemas: psycopg.Connection, dsn: str, capsys) -> None:
    schemas.execute(
        "INSERT INTO mlops.declared_references (referencing_table, id_column, target) VALUES"
        " ('shop.orders', 'account_id', 'shop.accounts')"
    )
    assert runner.main(["audit", "--dsn", dsn, "--schema", "shop"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "📝 declared:orders.account_id: account_id -> shop.accounts (declared, no FK)"
    assert out[1] == (
        "⚠️ unindexed: shop.orders (account_id) for declared:orders.account_id: every merge on shop.accounts scans"
        " shop.orders"
    )
    assert out[2].startswith(
        "⚠️ undeclared_reference: shop.orders (category_id) -> shop.categories: 5 of 5 sampled values are keys"
    )
    assert out[3].startswith("⚠️ undeclared_reference: shop.orders (customer_id) -> shop.customers: 50 of 50")
    assert out[4:] == [
        "legend:",
        "  declared: a reference declared in mlops.declared_references: merges re-point it, nothing checks it",
        "  undeclared_reference: a column named like a reference, without FK or declaration, whose sampled values"
        " are keys of the table named",
    ]
