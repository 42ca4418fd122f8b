"""Issue 8: shapes of public schemas (Pagila, Chinook, Northwind, Rails-style): composite keys in referencing
tables, composite FKs, range- and list-partitioned referencing tables, self and many-to-many references, BEFORE
UPDATE stamping triggers. Every merge: no reference to a loser, archived + remaining = before, undo exact."""

from __future__ import annotations

import psycopg
import pytest
from helpers import snapshot


@pytest.fixture
def app(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("CREATE SCHEMA app")
    return conn


def merge_and_check(
    conn: psycopg.Connection, target: str, survivor: int, losers: list[int], refs: dict[str, str]
) -> int:
    """Merge, then check every referencing column no longer names a loser and nothing was lost."""
    tables = (target, *refs)
    before = snapshot(conn, tables)
    merge_id = conn.execute("SELECT mlops.merge_rows(%s, %s, %s::bigint[])", (target, survivor, losers)).fetchone()[0]
    for table, column in refs.items():
        left = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ANY (%s)", (losers,)).fetchone()[0]
        assert left == 0, table
    for table in tables:
        remaining = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        archived = conn.execute(
            "SELECT count(*) FROM mlops.merge_archive WHERE target = %s::regclass OR target::text LIKE %s",
            (table, table + "\\_%"),
        ).fetchone()[0]
        assert remaining + archived == len(before[table]), table
    return merge_id


def undo_and_compare(conn: psycopg.Connection, merge_id: int, before: dict) -> None:
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, tuple(before)) == before


def test_pagila_film_actor_many_to_many_with_composite_key_and_last_update_trigger(app: psycopg.Connection) -> None:
    """Pagila: film_actor (actor_id, film_id) primary key, last_update stamped by a BEFORE UPDATE trigger."""
    app.execute(
        """
        CREATE TABLE app.actor (actor_id int PRIMARY KEY, name text);
        CREATE TABLE app.film (film_id int PRIMARY KEY, title text);
        CREATE TABLE app.film_actor (
            actor_id int NOT NULL REFERENCES app.actor, film_id int NOT NULL REFERENCES app.film,
            last_update timestamptz NOT NULL DEFAULT '2020-01-01', PRIMARY KEY (actor_id, film_id));
        CREATE FUNCTION app.stamp() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN NEW.last_update := '2030-01-01'; RETURN NEW; END $$;
        CREATE TRIGGER film_actor_stamp BEFORE UPDATE ON app.film_actor FOR EACH ROW EXECUTE FUNCTION app.stamp();
        INSERT INTO app.actor VALUES (1, 'PENELOPE GUINESS'), (2, 'Penelope Guiness'), (3, 'NICK WAHLBERG');
        INSERT INTO app.film VALUES (10, 'ACADEMY DINOSAUR'), (11, 'ACE GOLDFINGER');
        INSERT INTO app.film_actor (actor_id, film_id) VALUES (1, 10), (2, 10), (2, 11), (3, 11);
        """
    )
    tables = ("app.actor", "app.film_actor")
    before = snapshot(app, tables)

    merge_id = merge_and_check(app, "app.actor", 1, [2], {"app.film_actor": "actor_id"})

    # (2, 10) collided with (1, 10); (2, 11) moved, and the trigger stamped it like any update
    assert app.execute(
        "SELECT actor_id, film_id, last_update::date::text FROM app.film_actor ORDER BY 1, 2"
    ).fetchall() == [
        (1, 10, "2020-01-01"),
        (1, 11, "2030-01-01"),
        (3, 11, "2020-01-01"),
    ]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    # Undo is an UPDATE too: the trigger fires again, so the moved row keeps the trigger's stamp, not its old one.
    # Everything else is exactly as before.
    after = snapshot(app, tables)
    assert after["app.actor"] == before["app.actor"]
    stamped = {(r["actor_id"], r["film_id"]): r["last_update"][:10] for r in after["app.film_actor"]}
    assert stamped == {(1, 10): "2020-01-01", (2, 10): "2020-01-01", (2, 11): "2030-01-01", (3, 11): "2020-01-01"}


def test_chinook_tracks_with_invoice_lines_and_playlist_many_to_many(app: psycopg.Connection) -> None:
    app.execute(
        """
        CREATE TABLE app.album (album_id int PRIMARY KEY, title text);
        CREATE TABLE app.track (track_id int PRIMARY KEY, name text, album_id int REFERENCES app.album);
        CREATE TABLE app.invoice_line (invoice_line_id int PRIMARY KEY, track_id int NOT NULL REFERENCES app.track,
            unit_price numeric(10, 2), quantity int);
        CREATE TABLE app.playlist (playlist_id int PRIMARY KEY, name text);
        CREATE TABLE app.playlist_track (playlist_id int REFERENCES app.playlist, track_id int REFERENCES app.track,
            PRIMARY KEY (playlist_id, track_id));
        INSERT INTO app.album VALUES (1, 'For Those About To Rock');
        INSERT INTO app.track VALUES (1, 'For Those About To Rock', 1), (2, 'For Those About to Rock', 1), (3, 'x', 1);
        INSERT INTO app.invoice_line VALUES (1, 1, 0.99, 1), (2, 2, 0.99, 1), (3, 2, 0.99, 2);
        INSERT INTO app.playlist VALUES (1, 'Music'), (8, 'Music');
        INSERT INTO app.playlist_track VALUES (1, 1), (1, 2), (8, 2), (8, 3);
        """
    )
    before = snapshot(app, ("app.track", "app.invoice_line", "app.playlist_track"))

    merge_id = merge_and_check(
        app, "app.track", 1, [2], {"app.invoice_line": "track_id", "app.playlist_track": "track_id"}
    )

    assert app.execute("SELECT invoice_line_id, track_id FROM app.invoice_line ORDER BY 1").fetchall() == [
        (1, 1),
        (2, 1),
        (3, 1),
    ]
    assert app.execute("SELECT playlist_id, track_id FROM app.playlist_track ORDER BY 1, 2").fetchall() == [
        (1, 1),
        (8, 1),
        (8, 3),
    ]
    undo_and_compare(app, merge_id, before)


def test_northwind_order_details_composite_key_nothing_lost(app: psycopg.Connection) -> None:
    app.execute(
        """
        CREATE TABLE app.products (product_id smallint PRIMARY KEY, product_name text);
        CREATE TABLE app.orders (order_id smallint PRIMARY KEY);
        CREATE TABLE app.order_details (order_id smallint REFERENCES app.orders,
            product_id smallint REFERENCES app.products, unit_price real, quantity smallint,
            PRIMARY KEY (order_id, product_id));
        INSERT INTO app.products VALUES (1, 'Chai'), (78, 'Chai (old SKU)'), (2, 'Chang');
        INSERT INTO app.orders VALUES (10248), (10285);
        INSERT INTO app.order_details VALUES (10285, 1, 14.4, 45), (10285, 78, 14.4, 10), (10248, 78, 18, 3),
            (10248, 2, 19, 7);
        """
    )
    before = snapshot(app, ("app.products", "app.order_details"))

    merge_id = merge_and_check(app, "app.products", 1, [78], {"app.order_details": "product_id"})

    # every line either points at the survivor or was archived (its units kept in the archive)
    assert app.execute("SELECT order_id, product_id FROM app.order_details ORDER BY 1, 2").fetchall() == [
        (10248, 1),
        (10248, 2),
        (10285, 1),
    ]
    undo_and_compare(app, merge_id, before)


def test_composite_fk_to_a_tenant_scoped_unique_key(app: psycopg.Connection) -> None:
    app.execute(
        """
        CREATE TABLE app.customer (id int PRIMARY KEY, tenant_id int NOT NULL, name text, UNIQUE (tenant_id, id));
        CREATE TABLE app.invoice (id int PRIMARY KEY, tenant_id int NOT NULL, customer_id int,
            FOREIGN KEY (tenant_id, customer_id) REFERENCES app.customer (tenant_id, id));
        INSERT INTO app.customer VALUES (1, 7, 'Acme'), (2, 7, 'ACME');
        INSERT INTO app.invoice VALUES (100, 7, 2), (101, 7, 1), (102, 7, NULL);
        """
    )
    before = snapshot(app, ("app.customer", "app.invoice"))

    merge_id = merge_and_check(app, "app.customer", 1, [2], {"app.invoice": "customer_id"})

    assert app.execute("SELECT id, tenant_id, customer_id FROM app.invoice ORDER BY id").fetchall() == [
        (100, 7, 1),
        (101, 7, 1),
        (102, 7, None),
    ]
    undo_and_compare(app, merge_id, before)


def test_range_partitioned_referencing_table(app: psycopg.Connection) -> None:
    app.execute(
        """
        CREATE TABLE app.customer (id int PRIMARY KEY);
        INSERT INTO app.customer VALUES (1), (2);
        CREATE TABLE app.payment (id int, customer_id int REFERENCES app.customer, paid_on date NOT NULL,
            amount numeric, PRIMARY KEY (id, paid_on)) PARTITION BY RANGE (paid_on);
        CREATE TABLE app.payment_2022 PARTITION OF app.payment FOR VALUES FROM ('2022-01-01') TO ('2023-01-01');
        CREATE TABLE app.payment_2023 PARTITION OF app.payment FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
        INSERT INTO app.payment VALUES (1, 2, '2022-03-01', 5), (2, 2, '2023-03-01', 7), (3, 1, '2023-04-01', 1);
        """
    )
    before = snapshot(app, ("app.customer", "app.payment"))

    merge_id = merge_and_check(app, "app.customer", 1, [2], {"app.payment": "customer_id"})

    assert app.execute("SELECT tableoid::regclass::text, id, customer_id FROM app.payment ORDER BY id").fetchall() == [
        ("app.payment_2022", 1, 1),
        ("app.payment_2023", 2, 1),
        ("app.payment_2023", 3, 1),
    ]
    undo_and_compare(app, merge_id, before)


def test_list_partitioned_by_the_fk_column_rows_change_partition_and_come_back(app: psycopg.Connection) -> None:
    app.execute(
        """
        CREATE TABLE app.shop (id int PRIMARY KEY);
        INSERT INTO app.shop VALUES (1), (2);
        CREATE TABLE app.sale (id int, shop_id int NOT NULL REFERENCES app.shop, PRIMARY KEY (id, shop_id))
            PARTITION BY LIST (shop_id);
        CREATE TABLE app.sale_1 PARTITION OF app.sale FOR VALUES IN (1);
        CREATE TABLE app.sale_other PARTITION OF app.sale DEFAULT;
        INSERT INTO app.sale VALUES (1, 2), (2, 2), (3, 1);
        """
    )
    before = snapshot(app, ("app.shop", "app.sale"))

    merge_id = merge_and_check(app, "app.shop", 1, [2], {"app.sale": "shop_id"})

    assert app.execute("SELECT DISTINCT tableoid::regclass::text FROM app.sale").fetchall() == [("app.sale_1",)]
    undo_and_compare(app, merge_id, before)
    assert app.execute("SELECT id FROM ONLY app.sale_other ORDER BY id").fetchall() == [(1,), (2,)]


def test_rails_style_self_reference_and_polymorphic_free_join_table(app: psycopg.Connection) -> None:
    """A Rails schema: categories.parent_id self reference, categorizations (bigint ids, no FK-free shortcuts)."""
    app.execute(
        """
        CREATE TABLE app.categories (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text,
            parent_id bigint REFERENCES app.categories, updated_at timestamp NOT NULL DEFAULT '2020-01-01');
        CREATE TABLE app.products (id bigint PRIMARY KEY);
        CREATE TABLE app.categorizations (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
            category_id bigint NOT NULL REFERENCES app.categories, product_id bigint NOT NULL REFERENCES app.products);
        CREATE UNIQUE INDEX index_categorizations_on_category_id_and_product_id
            ON app.categorizations (category_id, product_id);
        INSERT INTO app.categories (id, name, parent_id) VALUES (1, 'Books', NULL), (2, 'books', 1), (3, 'Sci-Fi', 2),
            (4, 'Fantasy', 2);
        INSERT INTO app.products VALUES (10), (11);
        INSERT INTO app.categorizations (category_id, product_id) VALUES (1, 10), (2, 10), (2, 11);
        """
    )
    before = snapshot(app, ("app.categories", "app.categorizations"))

    # 'books' (2) is the better row: 'Books' (1), its own parent, merges into it; 2 takes 1's parent (none)
    merge_id = merge_and_check(
        app, "app.categories", 2, [1], {"app.categorizations": "category_id", "app.categories": "parent_id"}
    )

    assert app.execute("SELECT id, parent_id FROM app.categories ORDER BY id").fetchall() == [
        (2, None),
        (3, 2),
        (4, 2),
    ]
    assert app.execute("SELECT category_id, product_id FROM app.categorizations ORDER BY 1, 2").fetchall() == [
        (2, 10),
        (2, 11),
    ]
    undo_and_compare(app, merge_id, before)
