"""Detection, runs and review for merge targets keyed by any single-column primary key type (issue 9): uuid, text
(varchar(5), Northwind's customers), numeric, citext and a domain over bigint. find_duplicates gives the clusters with
their keys, merge_duplicates merges them, review-band pairs are queued by key, review_candidate and runner review
work, and a failing cluster is recorded by its keys and skipped by the next run."""

from __future__ import annotations

import io

import psycopg
import pytest

import runner

U1 = "00000000-0000-4000-8000-000000000001"
U2 = "00000000-0000-4000-8000-000000000002"
U3 = "00000000-0000-4000-8000-000000000003"
U4 = "00000000-0000-4000-8000-000000000004"
U5 = "00000000-0000-4000-8000-000000000005"

# One table per key type, each with a referencing table and an exact-key rule on its email/label. Rows of a
# duplicate pair are equally complete, so the survivor is the lowest key in the key type's order: 9 before 10 as
# numbers ('10' before '9' as text), 'apple' before 'Banana' for citext (case-insensitive).
SCHEMA = f"""
CREATE SCHEMA k;
CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
CREATE DOMAIN k.account_id AS bigint CHECK (VALUE > 0);

CREATE TABLE k.users (id uuid PRIMARY KEY, email text, name text);
INSERT INTO k.users VALUES ('{U2}', 'ann@x', 'Ann'), ('{U1}', 'ANN@x', 'Ann'), ('{U3}', 'bob@x', 'Bob');
CREATE TABLE k.orders (id int PRIMARY KEY, user_id uuid REFERENCES k.users);
INSERT INTO k.orders VALUES (1, '{U1}'), (2, '{U2}'), (3, '{U3}');

CREATE TABLE k.customers (customer_id varchar(5) PRIMARY KEY, company_name text, city text);
INSERT INTO k.customers VALUES ('ALFKI', 'Alfreds Futterkiste', 'Berlin'), ('ALFKA', 'Alfreds Futterkiste', 'Berlin'),
    ('BONAP', 'Bon app''', 'Marseille');
CREATE TABLE k.customer_orders (order_id int PRIMARY KEY, customer_id varchar(5) REFERENCES k.customers);
INSERT INTO k.customer_orders VALUES (10248, 'ALFKI'), (10249, 'ALFKA'), (10250, 'BONAP');

CREATE TABLE k.prices (code numeric PRIMARY KEY, label text);
INSERT INTO k.prices VALUES (10, 'tea'), (9, 'tea'), (1.5, 'coffee');
CREATE TABLE k.price_uses (id int PRIMARY KEY, code numeric REFERENCES k.prices);
INSERT INTO k.price_uses VALUES (1, 10), (2, 9);

CREATE TABLE k.tags (name public.citext PRIMARY KEY, label text);
INSERT INTO k.tags VALUES ('Banana', 'fruit'), ('apple', 'fruit'), ('Carrot', 'veg');
CREATE TABLE k.taggings (id int PRIMARY KEY, tag public.citext REFERENCES k.tags);
INSERT INTO k.taggings VALUES (1, 'Banana'), (2, 'apple');

CREATE TABLE k.accounts (id k.account_id PRIMARY KEY, email text);
INSERT INTO k.accounts VALUES (1, 'a@x'), (2, 'a@x'), (3, 'c@x');
CREATE TABLE k.logins (id int PRIMARY KEY, account_id k.account_id REFERENCES k.accounts);
INSERT INTO k.logins VALUES (1, 2);

INSERT INTO mlops.dedup_rules (target, exact_key) VALUES
    ('k.users', 'lower(t.email)'), ('k.customers', 't.company_name'), ('k.prices', 't.label'),
    ('k.tags', 't.label'), ('k.accounts', 't.email');
"""

# table, key column, referencing table and column, expected (survivor_key, member_key), integer ids or None
KEY_TYPES = {
    "uuid": ("k.users", "id", "k.orders", "user_id", (U1, U2), None),
    "varchar": ("k.customers", "customer_id", "k.customer_orders", "customer_id", ("ALFKA", "ALFKI"), None),
    "numeric": ("k.prices", "code", "k.price_uses", "code", ("9", "10"), None),
    "citext": ("k.tags", "name", "k.taggings", "tag", ("apple", "Banana"), None),
    "domain": ("k.accounts", "id", "k.logins", "account_id", ("1", "2"), (1, 2)),
}


@pytest.fixture
def keyed(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(SCHEMA)
    return conn


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_find_duplicates_names_the_clusters_by_their_keys(keyed: psycopg.Connection, key_type: str) -> None:
    table, _, _, _, keys, ids = KEY_TYPES[key_type]

    found = keyed.execute(
        "SELECT survivor_key, member_key, survivor_id, member_id, reason FROM mlops.find_duplicates(%s)", (table,)
    ).fetchall()

    assert found == [(*keys, *(ids or (None, None)), "exact_key")]


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_merge_duplicates_merges_them_and_logs_the_keys(keyed: psycopg.Connection, key_type: str) -> None:
    table, key, referencing, column, (survivor, loser), ids = KEY_TYPES[key_type]

    keyed.execute("CALL mlops.merge_duplicates(%s)", (table,))

    assert keyed.execute("SELECT status, rows_merged FROM mlops.dedup_runs").fetchall() == [("succeeded", 1)]
    remaining = keyed.execute(f"SELECT {key}::text FROM {table}").fetchall()
    assert (loser,) not in remaining and (survivor,) in remaining and len(remaining) == 2
    referenced = keyed.execute(f"SELECT DISTINCT {column}::text FROM {referencing}").fetchall()
    assert (loser,) not in referenced and (survivor,) in referenced
    assert keyed.execute(
        "SELECT survivor_key, loser_keys, survivor_id, loser_ids FROM mlops.merges WHERE target = %s::regclass",
        (table,),
    ).fetchall() == [(survivor, [loser], ids and ids[0], ids and [ids[1]])]


def test_a_mixed_case_citext_key_is_one_key(keyed: psycopg.Connection) -> None:
    """The row 'Banana' merged away is found by the key's own (case-insensitive) equality, in detection's re-check
    and in the merge: the run is not 'changed', and the reference written 'BANANA' follows it."""
    keyed.execute("INSERT INTO k.taggings VALUES (3, 'BANANA')")

    keyed.execute("CALL mlops.merge_duplicates('k.tags')")

    assert keyed.execute("SELECT status, rows_merged, clusters_changed FROM mlops.dedup_runs").fetchone() == (
        "succeeded",
        1,
        0,
    )
    assert keyed.execute("SELECT array_agg(tag::text ORDER BY id) FROM k.taggings").fetchone() == (
        ["apple", "apple", "apple"],
    )


# The review band: two texts with a similarity between review_threshold and threshold.
BASE = "one two three four five six seven eight nine ten eleven twelve"
OTHER = "one two three four five six seven eight zulu yankee xray whiskey"


def review_rule(conn: psycopg.Connection, table: str, text_column: str) -> None:
    (score,) = conn.execute("SELECT similarity(%s, %s)", (BASE, OTHER)).fetchone()
    conn.execute(
        "UPDATE mlops.dedup_rules SET exact_key = NULL, similar_text = %s, threshold = %s, review_threshold = %s"
        " WHERE target = %s::regclass",
        (f"t.{text_column}", min(score + 0.1, 1), score - 0.05, table),
    )


@pytest.mark.parametrize(
    ("table", "text_column", "rows", "pair"),
    [
        ("k.users", "name", [(U5, BASE), (U4, OTHER)], (U4, U5)),
        ("k.customers", "company_name", [("WOLZA", BASE), ("VINET", OTHER)], ("VINET", "WOLZA")),
        ("k.prices", "label", [(100, BASE), (20, OTHER)], ("20", "100")),
    ],
)
def test_review_band_pairs_are_queued_by_key_lower_key_left(
    keyed: psycopg.Connection, table: str, text_column: str, rows: list, pair: tuple
) -> None:
    key = {"k.users": "id", "k.customers": "customer_id", "k.prices": "code"}[table]
    for value, text in rows:
        keyed.execute(f"INSERT INTO {table} ({key}, {text_column}) VALUES (%s, %s)", (value, text))
    review_rule(keyed, table, text_column)

    keyed.execute("CALL mlops.merge_duplicates(%s)", (table,))

    queued = keyed.execute(
        "SELECT left_key, right_key, left_id, right_id, status FROM mlops.duplicate_candidates"
    ).fetchall()
    assert queued == [(*pair, None, None, "pending")]


@pytest.fixture
def queued_users(keyed: psycopg.Connection) -> psycopg.Connection:
    """Users U4 and U3 are a review-band pair, queued by a run."""
    keyed.execute("INSERT INTO k.users VALUES (%s, 'dan@x', %s)", (U4, BASE))
    keyed.execute("UPDATE k.users SET name = %s WHERE id = %s", (OTHER, U3))
    review_rule(keyed, "k.users", "name")
    keyed.execute("CALL mlops.merge_duplicates('k.users')")
    return keyed


def test_review_candidate_merges_a_uuid_pair_by_keep_order(queued_users: psycopg.Connection) -> None:
    (candidate,) = queued_users.execute("SELECT candidate_id FROM mlops.duplicate_candidates").fetchone()

    (merge_id,) = queued_users.execute("SELECT mlops.review_candidate(%s, 'merge')", (candidate,)).fetchone()

    # equally complete rows: the lower key survives
    assert queued_users.execute(
        "SELECT survivor_key, loser_keys, survivor_id, reason FROM mlops.merges WHERE merge_id = %s", (merge_id,)
    ).fetchone() == (U3, [U4], None, "review")
    assert queued_users.execute("SELECT count(*) FROM k.users WHERE id = %s", (U4,)).fetchone() == (0,)
    assert queued_users.execute("SELECT status FROM mlops.duplicate_candidates").fetchone() == ("merged",)


def test_review_candidate_distinct_keeps_a_uuid_pair_from_coming_back(queued_users: psycopg.Connection) -> None:
    (candidate,) = queued_users.execute("SELECT candidate_id FROM mlops.duplicate_candidates").fetchone()

    assert queued_users.execute("SELECT mlops.review_candidate(%s, 'distinct')", (candidate,)).fetchone() == (None,)
    queued_users.execute("CALL mlops.merge_duplicates('k.users')")

    assert queued_users.execute("SELECT count(*), min(status) FROM mlops.duplicate_candidates").fetchone() == (
        1,
        "distinct",
    )
    assert queued_users.execute(
        "SELECT candidates_queued FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1"
    ).fetchone() == (0,)
    assert queued_users.execute("SELECT count(*) FROM k.users").fetchone() == (3,)  # U2 merged: same name as U1


def test_a_citext_pair_judged_distinct_stays_out_of_clusters(keyed: psycopg.Connection) -> None:
    keyed.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score, status)"
        " VALUES ('k.tags', 'apple', 'Banana', 1, 'distinct')"
    )

    assert keyed.execute("SELECT count(*) FROM mlops.find_duplicates('k.tags')").fetchone() == (0,)


def test_runner_review_on_a_uuid_table(queued_users: psycopg.Connection, dsn: str) -> None:
    out = io.StringIO()

    decided = runner.review(dsn, "k.users", answers=io.StringIO("maybe\nm\n"), out=out)

    assert decided == {"merged": 1, "distinct": 0, "skipped": 0, "failed": 0}
    text = out.getvalue()
    assert f"{U3} | {U4}" in text and "'maybe' is not m, d, s or q" in text
    lines = text.splitlines()
    assert any(line.startswith("* name") for line in lines)  # the fields that differ are marked
    assert any(line.startswith("* id") and U3 in line and U4 in line for line in lines)
    (merge_id,) = queued_users.execute("SELECT max(merge_id) FROM mlops.merges").fetchone()
    assert f"merged: merge {merge_id} (undo: python runner.py undo {merge_id})" in text
    assert queued_users.execute("SELECT count(*) FROM k.users WHERE id = %s", (U4,)).fetchone() == (0,)


def test_runner_review_on_a_table_whose_key_is_not_named_id(keyed: psycopg.Connection, dsn: str) -> None:
    """Northwind's customers: customer_id varchar(5). The pair is shown side by side, equal fields unmarked."""
    keyed.execute("INSERT INTO k.customers VALUES ('ALFKB', 'Alfreds F.', 'Berlin')")
    keyed.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score)"
        " VALUES ('k.customers', 'ALFKB', 'ALFKI', 0.7), ('k.customers', 'ALFKA', 'BONAP', 0.6)"
    )
    out = io.StringIO()

    decided = runner.review(dsn, None, answers=io.StringIO("merge\nd\n"), out=out)

    assert decided == {"merged": 1, "distinct": 1, "skipped": 0, "failed": 0}
    lines = out.getvalue().splitlines()
    assert any(line.startswith("* company_name") and "Alfreds F." in line for line in lines)
    assert any(line.startswith("  city") and "Berlin" in line for line in lines)
    assert any(line.startswith("* customer_id") and "ALFKB" in line and "ALFKI" in line for line in lines)
    # both rows have every column: the lower key, ALFKB, survives
    assert keyed.execute("SELECT customer_id FROM k.customer_orders WHERE order_id = 10248").fetchone() == ("ALFKB",)
    assert keyed.execute(
        "SELECT left_key, status FROM mlops.duplicate_candidates ORDER BY candidate_id"
    ).fetchall() == [("ALFKB", "merged"), ("ALFKA", "distinct")]


def test_a_failing_cluster_of_a_uuid_table_is_recorded_by_its_keys_and_skipped_next_run(
    keyed: psycopg.Connection,
) -> None:
    """A trigger refuses to move order 2 (it references loser U2): that cluster fails alone, is recorded with its
    keys, and the next run skips it while nothing changed."""
    keyed.execute(
        """
        CREATE FUNCTION k.freeze() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.id = 2 THEN
                RAISE EXCEPTION 'order % is frozen', OLD.id USING ERRCODE = 'check_violation';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER order_freeze BEFORE UPDATE ON k.orders FOR EACH ROW EXECUTE FUNCTION k.freeze();
        """
    )
    keyed.execute("INSERT INTO k.users VALUES (%s, 'BOB@x', 'Bob')", (U4,))  # a second cluster, which merges

    keyed.execute("CALL mlops.merge_duplicates('k.users')")
    keyed.execute("CALL mlops.merge_duplicates('k.users')")

    assert keyed.execute(
        "SELECT target::text, survivor_key, loser_keys, sqlstate, message FROM mlops.merge_failures"
        " WHERE cleared_at IS NULL"
    ).fetchall() == [("k.users", U1, [U2], "23514", "order 2 is frozen")]
    assert keyed.execute(
        "SELECT status, rows_merged, clusters_failed, clusters_skipped FROM mlops.dedup_runs ORDER BY run_id"
    ).fetchall() == [("partial", 1, 1, 0), ("partial", 0, 0, 1)]
    assert keyed.execute("SELECT error FROM mlops.dedup_runs ORDER BY run_id LIMIT 1").fetchone() == (
        f"cluster of survivor {U1} (losers {U2}) failed: order 2 is frozen",
    )
    assert keyed.execute("SELECT count(*) FROM k.users").fetchone() == (3,)


def test_a_uuid_table_merges_over_many_batches_in_one_session(keyed: psycopg.Connection) -> None:
    """Nine clusters (eight new pairs and Ann's), one per batch: merge_clusters runs nine times in the session (past
    the point where PostgreSQL may switch a routine's statements to generic plans), every batch merges."""
    keyed.execute(
        "INSERT INTO k.users SELECT gen_random_uuid(), 'dup' || (g / 2) || '@x', 'x' FROM generate_series(2, 17) AS g"
    )

    (before,) = keyed.execute("SELECT count(*) FROM k.users").fetchone()
    keyed.execute("CALL mlops.merge_duplicates('k.users', p_batch_size => 1)")

    assert keyed.execute("SELECT status, rows_merged, batches FROM mlops.dedup_runs").fetchone() == (
        "succeeded",
        9,
        9,
    )
    assert keyed.execute("SELECT count(*) FROM k.users").fetchone() == (before - 9,)
