"""References the catalog cannot see, declared in mlops.declared_references (issue 9): merges re-point them like FKs
(plain, polymorphic, a key inside a jsonb document), colliding rows follow the conflict policy, the delete gate
covers them, and undo puts every row back exactly."""

from __future__ import annotations

import psycopg
import pytest
from helpers import snapshot

SCHEMA = """
CREATE SCHEMA app;
CREATE TABLE app.users (id uuid PRIMARY KEY, email text);
CREATE TABLE app.posts (id bigint PRIMARY KEY, title text);
-- plain: a text column that holds the users' uuids, kept by the application (no FK)
CREATE TABLE app.audit (id bigserial PRIMARY KEY, actor text, action text);
-- polymorphic, as Rails' active_storage_attachments: (record_type, record_id) with record_id holding the key's text
CREATE TABLE app.attachments (
    id bigserial PRIMARY KEY, name text, record_type text, record_id text, blob text,
    UNIQUE (record_type, record_id, name)
);
-- a key inside a jsonb document
CREATE TABLE app.events (id bigserial PRIMARY KEY, payload jsonb);
INSERT INTO app.users VALUES
    ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a@x'), ('b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'a@x'),
    ('c2ffbc99-9c0b-4ef8-bb6d-6bb9bd380a13', 'c@x');
INSERT INTO app.posts VALUES (1, 'p');
INSERT INTO app.audit (actor, action) VALUES
    ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'login'), ('b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'login'),
    ('b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'logout'), (NULL, 'cron');
INSERT INTO app.attachments (name, record_type, record_id, blob) VALUES
    ('avatar', 'User', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'A'),
    ('avatar', 'User', 'b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'B'),
    ('cv', 'User', 'b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'C'),
    -- another type with the same id text: not a reference to a user
    ('avatar', 'Post', 'b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'P');
INSERT INTO app.events (payload) VALUES
    ('{"user": {"id": "b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12"}, "kind": "signup"}'),
    ('{"user": {"id": "c2ffbc99-9c0b-4ef8-bb6d-6bb9bd380a13"}}'),
    ('{"kind": "no user"}');
INSERT INTO mlops.declared_references (referencing_table, id_column, target) VALUES ('app.audit', 'actor', 'app.users');
INSERT INTO mlops.declared_references (referencing_table, id_column, target, type_column, type_value)
VALUES ('app.attachments', 'record_id', 'app.users', 'record_type', 'User');
INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)
VALUES ('app.events', 'payload', 'app.users', '{user,id}');
"""
TABLES = ("app.users", "app.audit", "app.attachments", "app.events")
A, B, C = (
    "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
    "b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12",
    "c2ffbc99-9c0b-4ef8-bb6d-6bb9bd380a13",
)


@pytest.fixture
def app(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(SCHEMA)
    return conn


def merge(conn: psycopg.Connection, survivor: str, losers: list[str]) -> int:
    return conn.execute("SELECT mlops.merge_rows('app.users', %s::uuid, %s::uuid[])", (survivor, losers)).fetchone()[0]


def test_plain_polymorphic_and_json_references_move_to_the_survivor(app: psycopg.Connection) -> None:
    merge(app, A, [B])
    assert app.execute("SELECT actor, action FROM app.audit ORDER BY id").fetchall() == [
        (A, "login"),
        (A, "login"),
        (A, "logout"),
        (None, "cron"),
    ]
    # the colliding avatar merged into its twin (twin policy); the cv moves; the Post's attachment stays
    assert app.execute("SELECT name, record_type, record_id, blob FROM app.attachments ORDER BY id").fetchall() == [
        ("avatar", "User", A, "A"),
        ("cv", "User", A, "C"),
        ("avatar", "Post", B, "P"),
    ]
    assert app.execute("SELECT payload FROM app.events ORDER BY id").fetchall() == [
        ({"user": {"id": A}, "kind": "signup"},),
        ({"user": {"id": C}},),
        ({"kind": "no user"},),
    ]
    moves = app.execute(
        "SELECT referencing_table::text, fk_name, loser_key FROM mlops.merge_moves ORDER BY 1, 2"
    ).fetchall()
    assert moves == [
        ("app.attachments", "declared:attachments.record_id[record_type=User]", B),
        ("app.audit", "declared:audit.actor", B),
        ("app.audit", "declared:audit.actor", B),
        ("app.events", "declared:events.payload#>{user,id}", B),
    ]


def test_undo_puts_declared_references_back_exactly(app: psycopg.Connection) -> None:
    before = snapshot(app, TABLES)
    merge_id = merge(app, A, [B])
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(app, TABLES) == before


def test_json_number_keys_stay_numbers(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.acct (id bigint PRIMARY KEY);
        CREATE TABLE public.log (id bigserial PRIMARY KEY, doc jsonb);
        INSERT INTO public.acct VALUES (1), (2);
        INSERT INTO public.log (doc) VALUES ('{"acct": 2, "n": 1}'), ('{"acct": "2"}');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)
        VALUES ('public.log', 'doc', 'public.acct', '{acct}');
        """
    )
    conn.execute("SELECT mlops.merge_rows('public.acct', 1, ARRAY[2])")
    assert conn.execute("SELECT doc FROM public.log ORDER BY id").fetchall() == [
        ({"acct": 1, "n": 1},),
        ({"acct": "1"},),
    ]


def test_refuse_policy_applies_to_a_declared_reference(app: psycopg.Connection) -> None:
    app.execute("INSERT INTO mlops.conflict_policies (referencing_table, action) VALUES ('app.attachments', 'refuse')")
    before = snapshot(app, TABLES)
    with pytest.raises(psycopg.errors.IntegrityConstraintViolation) as exc:
        merge(app, A, [B])
    assert exc.value.sqlstate == "23000"
    assert "app.attachments" in str(exc.value)
    assert snapshot(app, TABLES) == before


def test_fk_policy_report_lists_the_declarations(app: psycopg.Connection) -> None:
    rows = app.execute(
        "SELECT fk_name, referencing_table::text, risk FROM mlops.fk_policy_report('app') WHERE risk = 'declared'"
        " ORDER BY 1"
    ).fetchall()
    assert [r[0] for r in rows] == [
        "declared:attachments.record_id[record_type=User]",
        "declared:audit.actor",
        "declared:events.payload#>{user,id}",
    ]
