"""References the catalog cannot see, declared in mlops.declared_references (issue 9): merges re-point them like FKs
(plain, polymorphic, a key inside a jsonb document), colliding rows follow the conflict policy, the delete gate
covers them, and undo puts every row back exactly."""

from __future__ import annotations

import uuid

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


# ---------------------------------------------------------------- what a fresh user found (issue 9 attack)

SPELLINGS = """
CREATE TABLE public.users (id uuid PRIMARY KEY);
CREATE TABLE public.plain (id serial PRIMARY KEY, user_id text);
CREATE TABLE public.attach (id serial PRIMARY KEY, record_type text, record_id text);
CREATE TABLE public.doc (id serial PRIMARY KEY, body jsonb);
INSERT INTO public.users VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'), ('b1ffcd00-0000-4000-8000-000000000002');
INSERT INTO public.plain (user_id) VALUES ('B1FFCD00-0000-4000-8000-000000000002'),
    ('{b1ffcd00-0000-4000-8000-000000000002}'), (' b1ffcd00-0000-4000-8000-000000000002'),
    ('b1ffcd00000040008000000000000002'), ('not a uuid'), (NULL);
INSERT INTO public.attach (record_type, record_id) VALUES ('User', 'B1FFCD00-0000-4000-8000-000000000002');
INSERT INTO public.doc (body) VALUES ('{"u": "B1FFCD00-0000-4000-8000-000000000002"}');
INSERT INTO mlops.declared_references (referencing_table, id_column, target)
VALUES ('public.plain', 'user_id', 'public.users');
INSERT INTO mlops.declared_references (referencing_table, id_column, target, type_column, type_value)
VALUES ('public.attach', 'record_id', 'public.users', 'record_type', 'User');
INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)
VALUES ('public.doc', 'body', 'public.users', '{u}');
"""


def test_every_spelling_of_a_key_moves_and_undo_writes_each_back_as_it_was(conn: psycopg.Connection) -> None:
    conn.execute(SPELLINGS)
    tables = ("public.users", "public.plain", "public.attach", "public.doc")
    before = snapshot(conn, tables)
    merge_id = conn.execute(
        "SELECT mlops.merge_rows('public.users', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid,"
        " ARRAY['b1ffcd00-0000-4000-8000-000000000002']::uuid[])"
    ).fetchone()[0]
    survivor = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert conn.execute("SELECT user_id FROM public.plain ORDER BY id").fetchall() == [
        (survivor,),
        (survivor,),
        (survivor,),
        (survivor,),
        ("not a uuid",),
        (None,),
    ]
    assert conn.execute("SELECT record_id FROM public.attach").fetchall() == [(survivor,)]
    assert conn.execute("SELECT body FROM public.doc").fetchall() == [({"u": survivor},)]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, tables) == before


def test_a_text_column_declared_to_a_citext_key_matches_any_case(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE EXTENSION IF NOT EXISTS citext;
        CREATE TABLE public.cust (code citext PRIMARY KEY);
        CREATE TABLE public.notes (id serial PRIMARY KEY, cust_code text);
        INSERT INTO public.cust VALUES ('ALFKI'), ('BONAP');
        INSERT INTO public.notes (cust_code) VALUES ('bonap'), ('Bonap'), ('alfki');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target)
        VALUES ('public.notes', 'cust_code', 'public.cust');
        """
    )
    before = snapshot(conn, ("public.cust", "public.notes"))
    merge_id = conn.execute("SELECT mlops.merge_rows('public.cust', 'ALFKI'::citext, ARRAY['bonap'])").fetchone()[0]
    assert conn.execute("SELECT cust_code FROM public.notes ORDER BY id").fetchall() == [
        ("ALFKI",),
        ("ALFKI",),
        ("alfki",),
    ]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, ("public.cust", "public.notes")) == before


def test_a_declaration_whose_column_was_dropped_references_nothing(app: psycopg.Connection) -> None:
    app.execute(
        "CREATE TABLE app.notes (id serial PRIMARY KEY, user_ref uuid);"
        "INSERT INTO mlops.declared_references (referencing_table, id_column, target)"
        " VALUES ('app.notes', 'user_ref', 'app.users');"
        "ALTER TABLE app.notes DROP COLUMN user_ref"
    )
    merge_id = merge(app, A, [B])
    assert app.execute("SELECT count(*) FROM app.users").fetchone() == (2,)
    app.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert app.execute("SELECT count(*) FROM app.users").fetchone() == (3,)


def test_the_targets_own_key_is_not_a_reference_and_nulls_are_refused(app: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        app.execute(
            "INSERT INTO mlops.declared_references (referencing_table, id_column, target)"
            " VALUES ('app.users', 'id', 'app.users')"
        )
    assert "is the table's own key, not a reference" in str(exc.value)
    for values in ("NULL, 'actor', 'app.users'", "'app.audit', NULL, 'app.users'"):
        with pytest.raises(psycopg.errors.NullValueNotAllowed) as exc:
            app.execute(
                f"INSERT INTO mlops.declared_references (referencing_table, id_column, target) VALUES ({values})"
            )
        assert exc.value.sqlstate == "22004"


def test_empty_key_arrays_say_no_losers_were_given(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.n (id numeric PRIMARY KEY)")
    with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
        conn.execute("SELECT * FROM mlops.merge_clusters('public.n', ARRAY[]::numeric[], ARRAY[]::numeric[])")
    assert "no loser ids given" in str(exc.value)


def test_declaring_needs_references_on_the_target_and_rule_merges_check_the_declared_tables(
    dsn: str, app: psycopg.Connection
) -> None:
    """A role that may not reference the target cannot declare; one that may, and hangs a trigger on its table,
    does not get a superuser's rule merge to run it (the merge is refused, as for an FK's table)."""
    role = f"declarer_{uuid.uuid4().hex[:10]}"
    app.execute(f"CREATE ROLE {role} LOGIN")
    app.execute(f"SELECT count(*) FROM mlops.grant_usage('{role}', true)")
    app.execute(f"GRANT USAGE, CREATE ON SCHEMA app TO {role}")
    try:
        with psycopg.connect(dsn, user=role, autocommit=True) as own:
            own.execute("CREATE TABLE app.mine (id serial PRIMARY KEY, user_id text)")
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
                own.execute(
                    "INSERT INTO mlops.declared_references (referencing_table, id_column, target)"
                    " VALUES ('app.mine', 'user_id', 'app.users')"
                )
            assert "lacks REFERENCES on app.users.id" in str(exc.value)
            app.execute(f"GRANT REFERENCES (id) ON app.users TO {role}")
            own.execute(
                "INSERT INTO mlops.declared_references (referencing_table, id_column, target)"
                " VALUES ('app.mine', 'user_id', 'app.users')"
            )
            own.execute(
                "CREATE FUNCTION app.grab() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;"
                "CREATE TRIGGER grab BEFORE UPDATE ON app.mine FOR EACH ROW EXECUTE FUNCTION app.grab();"
                f"INSERT INTO app.mine (user_id) VALUES ('{B}')"
            )
        app.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('app.users', 't.email')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute("CALL mlops.merge_duplicates('app.users')")
        assert app.execute("SELECT status, error FROM mlops.dedup_runs").fetchone()[0] == "failed"
        assert app.execute("SELECT user_id FROM app.mine").fetchall() == [(B,)]
    finally:
        app.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


# ---------------------------------------------------------------- what the code review found (issue 9)


def test_a_column_declares_one_target(app: psycopg.Connection) -> None:
    app.execute("CREATE TABLE app.orgs (code text PRIMARY KEY)")
    with pytest.raises(psycopg.errors.UniqueViolation):
        app.execute(
            "INSERT INTO mlops.declared_references (referencing_table, id_column, target)"
            " VALUES ('app.audit', 'actor', 'app.orgs')"
        )


def test_a_column_of_another_type_is_compared_as_the_key(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.tk (code text PRIMARY KEY);
        CREATE TABLE public.tref (id serial PRIMARY KEY, ref uuid);
        INSERT INTO public.tk VALUES ('X1'), ('X2'), ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
        INSERT INTO public.tref (ref) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target)
        VALUES ('public.tref', 'ref', 'public.tk');
        """
    )
    conn.execute("SELECT mlops.merge_rows('public.tk', 'X2', ARRAY['X1'])")  # no uuid to move, no cast error
    assert conn.execute("SELECT code FROM public.tk ORDER BY 1").fetchall() == [
        ("X2",),
        ("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",),
    ]


def test_a_citext_hierarchy_never_makes_a_survivor_its_own_parent(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE EXTENSION IF NOT EXISTS citext;
        CREATE TABLE public.c1 (code citext PRIMARY KEY, parent citext REFERENCES public.c1);
        INSERT INTO public.c1 VALUES ('A', NULL), ('B', 'a');
        """
    )
    conn.execute("SELECT mlops.merge_rows('public.c1', 'B'::citext, ARRAY['A'::citext])")
    assert conn.execute("SELECT code::text, parent::text FROM public.c1").fetchall() == [("B", None)]


def test_undo_gives_an_fk_back_the_spelling_it_had(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE EXTENSION IF NOT EXISTS citext;
        CREATE TABLE public.cu (code citext PRIMARY KEY);
        CREATE TABLE public.ord (id int PRIMARY KEY, cust citext REFERENCES public.cu);
        INSERT INTO public.cu VALUES ('ALFKI'), ('BONAP');
        INSERT INTO public.ord VALUES (1, 'alfki'), (2, 'bonap');
        """
    )
    before = snapshot(conn, ("public.cu", "public.ord"))
    merge_id = conn.execute("SELECT mlops.merge_rows('public.cu', 'BONAP'::citext, ARRAY['ALFKI'])").fetchone()[0]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, ("public.cu", "public.ord")) == before


def test_integer_keys_in_text_match_every_spelling_and_json_columns_are_refused(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.acct (id bigint PRIMARY KEY);
        CREATE TABLE public.memo (id serial PRIMARY KEY, acct text, doc json);
        INSERT INTO public.acct VALUES (7), (8);
        INSERT INTO public.memo (acct) VALUES ('007'), ('+7'), (' 7 '), ('77');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target)
        VALUES ('public.memo', 'acct', 'public.acct');
        """
    )
    before = snapshot(conn, ("public.memo",))
    merge_id = conn.execute("SELECT mlops.merge_rows('public.acct', 8, ARRAY[7])").fetchone()[0]
    assert conn.execute("SELECT acct FROM public.memo ORDER BY id").fetchall() == [("8",), ("8",), ("8",), ("77",)]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, ("public.memo",)) == before
    with pytest.raises(psycopg.errors.FeatureNotSupported):
        conn.execute(
            "INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)"
            " VALUES ('public.memo', 'doc', 'public.acct', '{a}')"
        )


def test_a_json_number_key_is_written_as_a_number_only_when_it_stays_the_same_key(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.tk (id text PRIMARY KEY);
        CREATE TABLE public.tkr (k int PRIMARY KEY, d jsonb);
        INSERT INTO public.tk VALUES ('7'), ('1e1'), ('10'), ('8.00'), ('x'), ('007');
        INSERT INTO public.tkr VALUES (1, '{"a": 7}'), (2, '{"a": 10}');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)
        VALUES ('public.tkr', 'd', 'public.tk', '{a}');
        """
    )
    before = snapshot(conn, ("public.tk", "public.tkr"))
    for survivor, written in (("1e1", "1e1"), ("8.00", 8.00), ("x", "x"), ("007", "007")):
        merge_id = conn.execute("SELECT mlops.merge_rows('public.tk', %s, ARRAY['7'])", (survivor,)).fetchone()[0]
        assert conn.execute("SELECT d -> 'a' FROM public.tkr WHERE k = 1").fetchone() == (written,)
        assert conn.execute("SELECT d -> 'a' FROM public.tkr WHERE k = 2").fetchone() == (10,)  # another key
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
        assert snapshot(conn, ("public.tk", "public.tkr")) == before
