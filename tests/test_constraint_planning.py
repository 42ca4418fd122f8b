"""Issue 8, item 3, cases E and F: CHECK constraints, exclusion constraints, partition bounds and self references
are planned before a merge changes anything. Refusals leave every table and the merge log as they were; merges that
go through are read back, and undo puts every row back exactly."""

from __future__ import annotations

import psycopg
import pytest
from helpers import merge_log_counts, snapshot

USERS_FOLLOW = """
CREATE TABLE app.users (id int PRIMARY KEY, name text);
INSERT INTO app.users VALUES (1, 'lee'), (2, 'Lee'), (3, 'kim'), (4, 'park');
CREATE TABLE app.follow (
    follower int NOT NULL REFERENCES app.users, followee int NOT NULL REFERENCES app.users,
    UNIQUE (follower, followee), CHECK (follower <> followee)
);
INSERT INTO app.follow VALUES (2, 1), (1, 3), (3, 2), (2, 4), (4, 1);
"""


@pytest.fixture
def app(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute("CREATE SCHEMA app")
    return conn


def merge(conn: psycopg.Connection, table: str, survivor: int, losers: list[int]) -> int:
    return conn.execute("SELECT mlops.merge_rows(%s, %s, %s::bigint[])", (table, survivor, losers)).fetchone()[0]


def rows(conn: psycopg.Connection, sql: str) -> list[tuple]:
    return conn.execute(sql).fetchall()


def assert_refused(conn: psycopg.Connection, tables: tuple[str, ...], call, error: type, *words: str) -> None:
    """The call raises our error (not a raw one from the middle of the merge) and nothing changed."""
    before, log = snapshot(conn, tables), merge_log_counts(conn)
    with pytest.raises(error) as exc:
        call()
    message = str(exc.value)
    assert message.startswith("cannot merge rows of"), message
    for word in words:
        assert word in message, message
    assert exc.value.diag.message_hint
    assert snapshot(conn, tables) == before
    assert merge_log_counts(conn) == log


# ---------------------------------------------------------------- case F: hierarchies


def test_survivor_that_reported_to_its_loser_takes_the_losers_boss_and_undo_restores_it(
    app: psycopg.Connection,
) -> None:
    app.execute("CREATE TABLE app.staff (id int PRIMARY KEY, boss int REFERENCES app.staff, CHECK (boss <> id))")
    app.execute("INSERT INTO app.staff VALUES (1, NULL), (2, 1), (3, 2), (4, 2)")
    before = snapshot(app, ("app.staff",))

    merge_id = merge(app, "app.staff", 3, [2])

    assert rows(app, "SELECT id, boss FROM app.staff ORDER BY id") == [(1, None), (3, 1), (4, 3)]
    assert rows(app, "SELECT row_key, loser_key, moved_to FROM mlops.merge_moves ORDER BY row_key::text") == [
        ({"id": 3}, "2", {"boss": 1}),
        ({"id": 4}, "2", None),
    ]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, ("app.staff",)) == before


def test_hierarchy_follows_the_chain_through_losers_of_the_same_cluster_and_maps_other_clusters(
    app: psycopg.Connection,
) -> None:
    # 3 -> 2 -> 4 -> 5; 2 and 4 merge into 3, 5 merges into 6: 3 ends up reporting to 6
    app.execute("CREATE TABLE app.staff (id bigint PRIMARY KEY, boss bigint REFERENCES app.staff)")
    app.execute("INSERT INTO app.staff VALUES (6, NULL), (5, 6), (4, 5), (2, 4), (3, 2)")
    before = snapshot(app, ("app.staff",))

    (ids,) = app.execute(
        "SELECT merge_ids FROM mlops.merge_clusters('app.staff', ARRAY[3, 3, 6]::bigint[], ARRAY[2, 4, 5]::bigint[])"
    ).fetchone()

    assert rows(app, "SELECT id, boss FROM app.staff ORDER BY id") == [(3, 6), (6, None)]
    for merge_id in ids:
        app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, ("app.staff",)) == before


def test_loser_that_was_a_root_referencing_itself_makes_the_survivor_such_a_root(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.staff (id int PRIMARY KEY, boss int NOT NULL REFERENCES app.staff)")
    app.execute("INSERT INTO app.staff VALUES (2, 2), (3, 2), (5, 3)")
    before = snapshot(app, ("app.staff",))

    merge_id = merge(app, "app.staff", 3, [2])

    assert rows(app, "SELECT id, boss FROM app.staff ORDER BY id") == [(3, 3), (5, 3)]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, ("app.staff",)) == before


def test_hierarchy_cycle_through_the_survivor_is_refused(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.staff (id int PRIMARY KEY, boss int REFERENCES app.staff)")
    app.execute("INSERT INTO app.staff VALUES (2, 3), (3, 2), (7, 2)")
    assert_refused(
        app,
        ("app.staff",),
        lambda: merge(app, "app.staff", 3, [2]),
        psycopg.errors.ObjectNotInPrerequisiteState,
        "survivor 3",
        "staff_boss_fkey",
    )


def test_undo_leaves_a_survivor_reference_changed_since_the_merge(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.staff (id int PRIMARY KEY, boss int REFERENCES app.staff)")
    app.execute("INSERT INTO app.staff VALUES (1, NULL), (2, 1), (3, 2), (9, NULL)")
    merge_id = merge(app, "app.staff", 3, [2])
    app.execute("UPDATE app.staff SET boss = 9 WHERE id = 3")

    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))

    assert rows(app, "SELECT id, boss FROM app.staff ORDER BY id") == [(1, None), (2, 1), (3, 9), (9, None)]


# ---------------------------------------------------------------- case E: link rows whose both ends become one


def test_link_row_whose_both_ends_become_the_survivor_is_archived_and_undo_restores_it(
    app: psycopg.Connection,
) -> None:
    app.execute(USERS_FOLLOW)
    tables = ("app.users", "app.follow")
    before = snapshot(app, tables)

    merge_id = merge(app, "app.users", 1, [2])

    # (2, 1) would be "1 follows 1": archived and removed; (4, 1) stays; (3, 2) -> (3, 1); (2, 4) -> (1, 4)
    assert rows(app, "SELECT follower, followee FROM app.follow ORDER BY 1, 2") == [(1, 3), (1, 4), (3, 1), (4, 1)]
    assert rows(app, "SELECT merge_id, row_data FROM mlops.merge_archive WHERE target = 'app.follow'::regclass") == [
        (merge_id, {"follower": 2, "followee": 1})
    ]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, tables) == before


def test_link_row_both_ends_losers_of_one_survivor_in_a_batch(app: psycopg.Connection) -> None:
    app.execute(USERS_FOLLOW)
    tables = ("app.users", "app.follow")
    before = snapshot(app, tables)

    (ids,) = app.execute(
        "SELECT merge_ids FROM mlops.merge_clusters('app.users', ARRAY[1, 1]::bigint[], ARRAY[2, 4]::bigint[])"
    ).fetchone()

    # (2, 1), (2, 4), (4, 1) all become "1 follows 1"
    assert rows(app, "SELECT follower, followee FROM app.follow ORDER BY 1, 2") == [(1, 3), (3, 1)]
    assert rows(app, "SELECT count(*) FROM mlops.merge_archive WHERE target = 'app.follow'::regclass") == [(3,)]
    for merge_id in ids:
        app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, tables) == before


def test_link_row_that_is_itself_referenced_is_refused(app: psycopg.Connection) -> None:
    app.execute(USERS_FOLLOW)
    app.execute("ALTER TABLE app.follow ADD COLUMN id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY")
    app.execute("CREATE TABLE app.alert (id int PRIMARY KEY, follow_id int REFERENCES app.follow)")
    app.execute("INSERT INTO app.alert SELECT 1, id FROM app.follow WHERE follower = 2 AND followee = 1")
    assert_refused(
        app,
        ("app.users", "app.follow", "app.alert"),
        lambda: merge(app, "app.users", 1, [2]),
        psycopg.errors.CheckViolation,
        "reference the survivor twice",
        "app.alert",
    )


def test_link_row_under_a_refuse_policy_is_refused(app: psycopg.Connection) -> None:
    app.execute(USERS_FOLLOW)
    # the shape issue 8 gives mlops.conflict_policies (created by another migration once merged)
    app.execute(
        "CREATE TABLE IF NOT EXISTS mlops.conflict_policies (referencing_table regclass PRIMARY KEY,"
        " action text NOT NULL CHECK (action IN ('twin', 'combine', 'refuse')), combine jsonb)"
    )
    app.execute("INSERT INTO mlops.conflict_policies (referencing_table, action) VALUES ('app.follow', 'refuse')")
    assert_refused(
        app,
        ("app.users", "app.follow"),
        lambda: merge(app, "app.users", 1, [2]),
        psycopg.errors.CheckViolation,
        "conflict policy is refuse",
        '{"followee": 1, "follower": 2}',
    )


def test_link_row_both_ends_equal_without_a_check_is_kept(app: psycopg.Connection) -> None:
    """A message from 2 to 1 is still a message once 2 is merged into 1: nothing forbids it, nothing is removed."""
    app.execute("CREATE TABLE app.users (id int PRIMARY KEY); INSERT INTO app.users VALUES (1), (2)")
    app.execute(
        "CREATE TABLE app.message (id int PRIMARY KEY, sender int REFERENCES app.users,"
        " recipient int REFERENCES app.users, body text)"
    )
    app.execute("INSERT INTO app.message VALUES (10, 2, 1, 'hi')")
    before = snapshot(app, ("app.users", "app.message"))

    merge_id = merge(app, "app.users", 1, [2])

    assert rows(app, "SELECT id, sender, recipient, body FROM app.message") == [(10, 1, 1, "hi")]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, ("app.users", "app.message")) == before


# ---------------------------------------------------------------- CHECK constraints over FK columns


def test_check_constraint_violated_after_the_repoint_is_refused(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.users (id int PRIMARY KEY); INSERT INTO app.users VALUES (1), (2), (3)")
    app.execute(
        "CREATE TABLE app.badge (id int PRIMARY KEY, user_id int REFERENCES app.users, level int,"
        " CONSTRAINT badge_admin_level_check CHECK (user_id <> 1 OR level > 0))"
    )
    app.execute("INSERT INTO app.badge SELECT i, 2, 0 FROM generate_series(1, 7) AS i")
    app.execute("INSERT INTO app.badge VALUES (8, 3, 0)")
    assert_refused(
        app,
        ("app.users", "app.badge"),
        lambda: merge(app, "app.users", 1, [2, 3]),
        psycopg.errors.CheckViolation,
        "badge_admin_level_check",
        "app.badge",
        "on 8 row(s)",
        '{"id": 1}',
        "…",
    )


def test_check_that_passes_after_the_repoint_lets_the_merge_go_through(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.users (id int PRIMARY KEY); INSERT INTO app.users VALUES (1), (2)")
    app.execute(
        "CREATE TABLE app.badge (id int PRIMARY KEY, user_id int REFERENCES app.users, level int,"
        " CHECK (user_id <> 2 OR level > 0))"
    )
    app.execute("INSERT INTO app.badge VALUES (1, 2, 5), (2, NULL, 0)")
    before = snapshot(app, ("app.users", "app.badge"))

    merge_id = merge(app, "app.users", 1, [2])

    assert rows(app, "SELECT id, user_id FROM app.badge ORDER BY id") == [(1, 1), (2, None)]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, ("app.users", "app.badge")) == before


def test_check_on_a_partition_is_evaluated_for_the_rows_that_land_there(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.users (id int PRIMARY KEY); INSERT INTO app.users VALUES (1), (2), (3)")
    app.execute(
        "CREATE TABLE app.event (id int, user_id int REFERENCES app.users, kind text, PRIMARY KEY (id, kind))"
        " PARTITION BY LIST (kind);"
        "CREATE TABLE app.event_view PARTITION OF app.event FOR VALUES IN ('view');"
        "CREATE TABLE app.event_buy PARTITION OF app.event FOR VALUES IN ('buy');"
        "ALTER TABLE app.event_buy ADD CONSTRAINT event_buy_user_check CHECK (user_id <> 1)"
    )
    app.execute("INSERT INTO app.event VALUES (1, 2, 'view'), (2, 3, 'buy')")
    # 2 into 1 touches only a 'view' row: fine
    merge(app, "app.users", 1, [2])
    assert rows(app, "SELECT id, user_id FROM app.event ORDER BY id") == [(1, 1), (2, 3)]
    # 3 into 1 would put user 1 on a 'buy' row
    assert_refused(
        app,
        ("app.users", "app.event"),
        lambda: merge(app, "app.users", 1, [3]),
        psycopg.errors.CheckViolation,
        "event_buy_user_check",
        "app.event_buy",
    )


def test_row_moved_out_of_every_partition_is_refused_and_one_that_fits_moves(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.region (id int PRIMARY KEY); INSERT INTO app.region VALUES (1), (2), (3), (4)")
    app.execute(
        "CREATE TABLE app.store (id int, region_id int REFERENCES app.region, PRIMARY KEY (id, region_id))"
        " PARTITION BY LIST (region_id);"
        "CREATE TABLE app.store_12 PARTITION OF app.store FOR VALUES IN (1, 2);"
        "CREATE TABLE app.store_3 PARTITION OF app.store FOR VALUES IN (3, 4)"
    )
    app.execute("INSERT INTO app.store VALUES (10, 2), (11, 4)")
    tables = ("app.region", "app.store")
    before = snapshot(app, tables)

    merge_id = merge(app, "app.region", 3, [4, 2])  # store 10 moves from store_12 to store_3

    assert rows(app, "SELECT tableoid::regclass::text, id, region_id FROM app.store ORDER BY id") == [
        ("app.store_3", 10, 3),
        ("app.store_3", 11, 3),
    ]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, tables) == before
    assert rows(app, "SELECT tableoid::regclass::text FROM app.store ORDER BY id") == [
        ("app.store_12",),
        ("app.store_3",),
    ]

    app.execute("ALTER TABLE app.store DETACH PARTITION app.store_3")
    app.execute("DELETE FROM app.store_3")
    app.execute("INSERT INTO app.region VALUES (5)")
    assert_refused(
        app,
        tables,
        lambda: merge(app, "app.region", 5, [2]),
        psycopg.errors.CheckViolation,
        "no partition of app.store",
        '"id": 10',
    )


# ---------------------------------------------------------------- exclusion constraints


BOOKING = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE TABLE app.room (id int PRIMARY KEY, name text);
INSERT INTO app.room VALUES (1, 'Blue'), (2, 'blue'), (3, 'Red');
CREATE TABLE app.booking (
    id int PRIMARY KEY, room_id int REFERENCES app.room, during tsrange NOT NULL,
    CONSTRAINT booking_no_overlap EXCLUDE USING gist (room_id WITH =, during WITH &&)
);
"""


def test_overlapping_bookings_of_merged_rooms_are_refused(app: psycopg.Connection) -> None:
    app.execute(BOOKING)
    app.execute(
        "INSERT INTO app.booking VALUES (1, 1, '[2024-01-01 10:00, 2024-01-01 12:00)'),"
        " (2, 2, '[2024-01-01 11:00, 2024-01-01 13:00)'), (3, 2, '[2024-01-02 10:00, 2024-01-02 11:00)')"
    )
    assert_refused(
        app,
        ("app.room", "app.booking"),
        lambda: merge(app, "app.room", 1, [2]),
        psycopg.errors.ExclusionViolation,
        "booking_no_overlap",
        '{"id": 2} / {"id": 1}',
    )


def test_overlap_between_two_losers_moving_to_one_room_is_refused(app: psycopg.Connection) -> None:
    app.execute(BOOKING)
    app.execute(
        "INSERT INTO app.booking VALUES (1, 2, '[2024-01-01 10:00, 2024-01-01 12:00)'),"
        " (2, 3, '[2024-01-01 11:00, 2024-01-01 13:00)')"
    )
    assert_refused(
        app,
        ("app.room", "app.booking"),
        lambda: merge(app, "app.room", 1, [2, 3]),
        psycopg.errors.ExclusionViolation,
        "booking_no_overlap",
    )


def test_bookings_that_do_not_overlap_move_and_undo_restores_them(app: psycopg.Connection) -> None:
    app.execute(BOOKING)
    app.execute(
        "INSERT INTO app.booking VALUES (1, 1, '[2024-01-01 10:00, 2024-01-01 12:00)'),"
        " (2, 2, '[2024-01-01 12:00, 2024-01-01 13:00)'), (3, 3, '[2024-01-01 10:00, 2024-01-01 12:00)')"
    )
    tables = ("app.room", "app.booking")
    before = snapshot(app, tables)

    merge_id = merge(app, "app.room", 1, [2])

    assert rows(app, "SELECT id, room_id FROM app.booking ORDER BY id") == [(1, 1), (2, 1), (3, 3)]
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, tables) == before
