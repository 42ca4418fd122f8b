"""merge_rows on a generic schema: composite FKs to a unique key, self references, other schemas, quoted names,
partitioned tables, every ON DELETE action, partial and expression unique indexes, keyless tables."""

import psycopg
import pytest
from helpers import snapshot

SCHEMA = """
CREATE SCHEMA shop;
CREATE SCHEMA "Other Schema";
CREATE TABLE shop.customers (
    id integer PRIMARY KEY,
    region text NOT NULL,
    code text NOT NULL,
    parent_id integer REFERENCES shop.customers (id) ON DELETE SET NULL,
    note text,
    CONSTRAINT customers_region_code_key UNIQUE (region, code)
);
CREATE TABLE shop.addresses (
    id integer PRIMARY KEY,
    cust_region text,
    cust_code text,
    kind text NOT NULL,
    CONSTRAINT addresses_cust_fkey FOREIGN KEY (cust_region, cust_code)
        REFERENCES shop.customers (region, code) ON UPDATE CASCADE,
    CONSTRAINT addresses_cust_kind_key UNIQUE (cust_region, cust_code, kind)
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
CREATE TABLE shop.wishlist (
    customer_id integer REFERENCES shop.customers (id) ON DELETE SET NULL,
    sku text NOT NULL,
    CONSTRAINT wishlist_customer_id_sku_key UNIQUE (customer_id, sku)
);
CREATE TABLE shop.loyalty (
    customer_id integer PRIMARY KEY REFERENCES shop.customers (id) ON DELETE CASCADE,
    points integer NOT NULL
);
CREATE TABLE shop.votes (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES shop.customers (id),
    poll text NOT NULL,
    active boolean NOT NULL
);
CREATE UNIQUE INDEX votes_active_idx ON shop.votes (customer_id, poll) WHERE active;

INSERT INTO shop.customers (id, region, code, parent_id, note) VALUES
    (1, 'eu', 'A', NULL, NULL), (2, 'eu', 'B', NULL, 'second'), (3, 'us', 'C', 2, NULL), (4, 'us', 'D', 2, NULL);
INSERT INTO shop.addresses VALUES
    (1, 'eu', 'A', 'home'), (2, 'eu', 'B', 'home'), (3, 'eu', 'B', 'work'), (4, 'us', 'C', 'work'),
    (5, 'us', 'D', 'home');
INSERT INTO "Other Schema"."Order Lines" VALUES (1, 2), (2, 3), (3, 4);
INSERT INTO shop.events VALUES (1, '2025-03-01', 2), (2, '2026-03-01', 3), (3, '2026-04-01', 4);
INSERT INTO shop.wishlist VALUES (1, 'sku-1'), (2, 'sku-1'), (3, 'sku-1'), (2, 'sku-2'), (NULL, 'sku-1');
INSERT INTO shop.loyalty VALUES (1, 10), (2, 20), (3, 30);
INSERT INTO shop.votes VALUES (1, 1, 'p1', true), (2, 2, 'p1', true), (3, 1, 'p2', false), (4, 2, 'p2', false),
    (5, 3, 'p3', true);
"""

TABLES = (
    "shop.customers",
    "shop.addresses",
    '"Other Schema"."Order Lines"',
    "shop.events",
    "shop.wishlist",
    "shop.loyalty",
    "shop.votes",
)


@pytest.fixture
def shop(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(SCHEMA)
    return conn


def merge(conn: psycopg.Connection, survivor: int = 1, losers: tuple[int, ...] = (2, 3)) -> int:
    return conn.execute(
        "SELECT mlops.merge_rows('shop.customers', %s, %s::bigint[])", (survivor, list(losers))
    ).fetchone()[0]


def rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def test_no_reference_to_a_loser_remains(shop: psycopg.Connection) -> None:
    merge(shop)
    dangling = rows(
        shop,
        "SELECT (SELECT count(*) FROM shop.customers WHERE parent_id IN (2, 3)),"
        " (SELECT count(*) FROM shop.addresses WHERE (cust_region, cust_code) IN (('eu', 'B'), ('us', 'C'))),"
        ' (SELECT count(*) FROM "Other Schema"."Order Lines" WHERE "Customer Id" IN (2, 3)),'
        " (SELECT count(*) FROM shop.events WHERE customer_id IN (2, 3)),"
        " (SELECT count(*) FROM shop.wishlist WHERE customer_id IN (2, 3)),"
        " (SELECT count(*) FROM shop.loyalty WHERE customer_id IN (2, 3)),"
        " (SELECT count(*) FROM shop.votes WHERE customer_id IN (2, 3))",
    )
    assert dangling == [(0, 0, 0, 0, 0, 0, 0)]


def test_composite_fk_to_unique_key_takes_survivor_values(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, "SELECT id, cust_region, cust_code, kind FROM shop.addresses ORDER BY id") == [
        (1, "eu", "A", "home"),  # 2 (eu, B, home) collided with 1 and was merged into it
        (3, "eu", "A", "work"),  # 4 (us, C, work) collided with 3 once both moved: the lower id stays
        (5, "us", "D", "home"),
    ]


def test_self_reference_is_repointed(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, "SELECT id, parent_id FROM shop.customers ORDER BY id") == [(1, None), (4, 1)]


def test_loser_referencing_another_loser_is_archived_as_it_was(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(
        shop,
        "SELECT row_data ->> 'parent_id' FROM mlops.merge_archive WHERE row_key = '3'"
        " AND target = 'shop.customers'::regclass",
    ) == [("2",)]


def test_quoted_identifiers_in_other_schema_and_deferrable_restrict_fk(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, 'SELECT id, "Customer Id" FROM "Other Schema"."Order Lines" ORDER BY id') == [
        (1, 1),
        (2, 1),
        (3, 4),
    ]


def test_partitioned_referencing_table_rows_move_in_every_partition(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, "SELECT tableoid::regclass::text, id, customer_id FROM shop.events ORDER BY id") == [
        ("shop.events_2025", 1, 1),
        ("shop.events_2026", 2, 1),
        ("shop.events_2026", 3, 4),
    ]


def test_keyless_table_collisions_are_archived_and_deleted(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, "SELECT customer_id, sku FROM shop.wishlist ORDER BY 1, 2") == [
        (1, "sku-1"),
        (1, "sku-2"),
        (None, "sku-1"),  # NULL never collides
    ]
    archived = rows(
        shop,
        "SELECT row_key, row_data FROM mlops.merge_archive WHERE target = 'shop.wishlist'::regclass ORDER BY 2::text",
    )
    assert archived == [
        (None, {"customer_id": 2, "sku": "sku-1"}),
        (None, {"customer_id": 3, "sku": "sku-1"}),
    ]


def test_fk_that_is_the_primary_key_merges_the_twin_rows(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, "SELECT customer_id, points FROM shop.loyalty") == [(1, 10)]
    assert rows(
        shop,
        "SELECT survivor_id, loser_ids, survivor_key, loser_keys FROM mlops.merges"
        " WHERE target = 'shop.loyalty'::regclass",
    ) == [(1, [2, 3], "1", ["2", "3"])]


def test_partial_unique_index_collides_only_inside_its_predicate(shop: psycopg.Connection) -> None:
    merge(shop)
    assert rows(shop, "SELECT id, customer_id, poll, active FROM shop.votes ORDER BY id") == [
        (1, 1, "p1", True),  # vote 2 (active, p1) merged into it
        (3, 1, "p2", False),
        (4, 1, "p2", False),  # inactive: outside the index, both stay
        (5, 1, "p3", True),
    ]


def test_unmerge_restores_generic_schema_exactly(shop: psycopg.Connection) -> None:
    before = snapshot(shop, TABLES)
    merge_id = merge(shop)
    shop.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(shop, TABLES) == before


def test_expression_unique_index_over_fk_is_planned(shop: psycopg.Connection) -> None:
    # Issue 8: expression indexes are evaluated on the re-pointed rows, no longer refused: 'X' of customer 2 collides
    # with 'x' of customer 1 under lower(tag), and is merged into it like any colliding row.
    shop.execute("CREATE TABLE shop.tags (id int PRIMARY KEY, customer_id int REFERENCES shop.customers, tag text)")
    shop.execute("CREATE UNIQUE INDEX tags_expr_idx ON shop.tags (customer_id, lower(tag))")
    shop.execute("INSERT INTO shop.tags VALUES (1, 1, 'x'), (2, 2, 'X')")
    before = snapshot(shop, (*TABLES, "shop.tags"))
    merge_id = merge(shop)
    assert rows(shop, "SELECT id, customer_id, tag FROM shop.tags ORDER BY id") == [(1, 1, "x")]
    shop.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(shop, (*TABLES, "shop.tags")) == before


def test_expression_unique_index_not_over_fk_is_ignored(shop: psycopg.Connection) -> None:
    shop.execute("CREATE TABLE shop.tags (id int PRIMARY KEY, customer_id int REFERENCES shop.customers, tag text)")
    shop.execute("CREATE UNIQUE INDEX tags_expr_idx ON shop.tags (lower(tag))")
    shop.execute("INSERT INTO shop.tags VALUES (1, 1, 'x'), (2, 2, 'y')")
    merge(shop)
    assert rows(shop, "SELECT id, customer_id FROM shop.tags ORDER BY id") == [(1, 1), (2, 1)]


def test_keyless_referenced_table_with_collisions_is_refused(shop: psycopg.Connection) -> None:
    shop.execute(
        "CREATE TABLE shop.memberships (customer_id int REFERENCES shop.customers, club text,"
        " CONSTRAINT memberships_key UNIQUE (customer_id, club));"
        "CREATE TABLE shop.badges (customer_id int, club text,"
        " FOREIGN KEY (customer_id, club) REFERENCES shop.memberships (customer_id, club));"
        "INSERT INTO shop.memberships VALUES (1, 'gold'), (2, 'gold'); INSERT INTO shop.badges VALUES (2, 'gold')"
    )
    before = rows(shop, "SELECT * FROM shop.memberships ORDER BY 1, 2")
    with pytest.raises(psycopg.errors.FeatureNotSupported) as exc:
        merge(shop)
    assert exc.value.sqlstate == "0A000"
    assert (
        "cannot merge through shop.memberships: 1 of its rows collide on shop.memberships_key and 1 row(s) of"
        " shop.badges reference them through badges_customer_id_club_fkey" in str(exc.value)
    )
    assert rows(shop, "SELECT count(*) FROM shop.customers") == [(4,)]
    assert rows(shop, "SELECT * FROM shop.memberships ORDER BY 1, 2") == before
    assert rows(shop, "SELECT count(*) FROM mlops.merges") == [(0,)]


def test_keyless_colliding_rows_nobody_references_are_archived_and_come_back(shop: psycopg.Connection) -> None:
    # badges could reference memberships, but no badge references the colliding one: it is archived and deleted
    shop.execute(
        "CREATE TABLE shop.memberships (customer_id int REFERENCES shop.customers, club text,"
        " CONSTRAINT memberships_key UNIQUE (customer_id, club));"
        "CREATE TABLE shop.badges (customer_id int, club text,"
        " FOREIGN KEY (customer_id, club) REFERENCES shop.memberships (customer_id, club));"
        "INSERT INTO shop.memberships VALUES (1, 'gold'), (2, 'gold'); INSERT INTO shop.badges VALUES (1, 'gold')"
    )
    before = rows(shop, "SELECT * FROM shop.memberships ORDER BY 1, 2")
    merge_id = rows(shop, "SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2])")[0][0]
    assert rows(shop, "SELECT * FROM shop.memberships ORDER BY 1, 2") == [(1, "gold")]
    shop.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert rows(shop, "SELECT * FROM shop.memberships ORDER BY 1, 2") == before


def test_rows_merged_counts_recursive_conflicts(shop: psycopg.Connection) -> None:
    result = rows(
        shop,
        "SELECT merged_rows, moved_references, conflict_rows"
        " FROM mlops.merge_clusters('shop.customers', ARRAY[1, 1]::bigint[], ARRAY[2, 3]::bigint[])",
    )
    # conflicts: addresses 2 and 4, wishlist (2, sku-1) and (3, sku-1), loyalty 2 and 3, vote 2
    assert result[0][0] == 2
    assert result[0][2] == 7


def test_nulls_not_distinct_unique_index_collides_on_null(shop: psycopg.Connection) -> None:
    shop.execute(
        "CREATE TABLE shop.prefs (id int PRIMARY KEY, customer_id int REFERENCES shop.customers, topic text,"
        " CONSTRAINT prefs_customer_id_topic_key UNIQUE NULLS NOT DISTINCT (customer_id, topic));"
        "INSERT INTO shop.prefs VALUES (1, 1, NULL), (2, 2, NULL), (3, 2, 'news')"
    )
    merge(shop)
    assert rows(shop, "SELECT id, customer_id, topic FROM shop.prefs ORDER BY id") == [(1, 1, None), (3, 1, "news")]
