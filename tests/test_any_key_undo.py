"""Undo and resolve_id for merge targets of any key type (issue 9): uuid, text, varchar(5), char(5), numeric, citext,
a domain over bigint, timestamptz. Undo gives back the target's rows and every referencing row exactly (conflict
merges of a referencing table keyed the same way, archived rows of a keyless one, moved rows); resolve_id answers in
the argument's type, compares with the key type's equality, and refuses a value the key type cannot read with the
cast's own SQLSTATE; undo's refusals hold whatever the key type."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import pytest


@dataclass(frozen=True)
class Key:
    """A key type and three keys of it, as SQL literals: the survivor and two losers."""

    type: str
    survivor: str
    loser: str
    other: str
    # the same value as `loser`, written another way (case, scale, offset), where the type has such
    loser_spelled_otherwise: str | None = None

    def lit(self, value: str) -> str:
        return f"{value}::{self.type}"


KEYS = {
    "uuid": Key(
        "uuid",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'",
        "'b1ffcd88-8d1a-4ef8-bb6d-6bb9bd380a22'",
        "'c2aade77-7e2b-4ef8-bb6d-6bb9bd380a33'",
        "'B1FFCD88-8D1A-4EF8-BB6D-6BB9BD380A22'",
    ),
    "text": Key("text", "'alpha'", "'beta'", "'gamma'"),
    "varchar5": Key("varchar(5)", "'ALFKI'", "'ALFKA'", "'ANATR'"),
    "bpchar5": Key("char(5)", "'AB'", "'AC'", "'AD'", "'AC   '"),
    "numeric": Key("numeric", "1.50", "2.50", "3.0", "2.5"),
    "citext": Key("public.citext", "'ALFKI'", "'ALFKA'", "'Anatr'", "'alfka'"),
    "domain": Key("public.account_id", "10", "20", "30"),
    "timestamptz": Key(
        "timestamptz",
        "'2024-01-01 10:00:00+00'",
        "'2024-01-01 11:00:00.5+02'",
        "'2024-06-30 23:59:59.999999-07'",
        "'2024-01-01 09:00:00.5+00'",
    ),
}

TABLES = ("app.parent", "app.child", "app.profile", "app.profile_note", "app.tag")

# Fixed settings for reading rows back: the same text before the merge and after undo means the same values.
FIXED = "SET datestyle = 'ISO, YMD'; SET timezone = 'UTC'; SET extra_float_digits = 1"


def schema(key: Key) -> str:
    """A target keyed by the type; referencing tables: plain rows that move (child), a table keyed by the same type
    whose rows collide and are merged into their twins (profile, referenced itself by profile_note), a keyless table
    whose colliding rows are archived (tag)."""
    t = key.type
    s, l1, l2 = key.lit(key.survivor), key.lit(key.loser), key.lit(key.other)
    return f"""
    CREATE EXTENSION IF NOT EXISTS citext SCHEMA public;
    CREATE DOMAIN public.account_id AS bigint CHECK (VALUE > 0);
    CREATE SCHEMA app;
    CREATE TABLE app.parent (id {t} PRIMARY KEY, name text NOT NULL, note text);
    CREATE TABLE app.child (id bigint PRIMARY KEY, parent_id {t} REFERENCES app.parent (id), label text);
    CREATE TABLE app.profile (
        id {t} PRIMARY KEY,
        parent_id {t} NOT NULL UNIQUE REFERENCES app.parent (id) ON DELETE CASCADE,
        bio text
    );
    CREATE TABLE app.profile_note (id bigint PRIMARY KEY, profile_id {t} REFERENCES app.profile (id), body text);
    CREATE TABLE app.tag (
        parent_id {t} NOT NULL REFERENCES app.parent (id) ON DELETE CASCADE,
        tag text NOT NULL,
        UNIQUE (parent_id, tag)
    );
    INSERT INTO app.parent VALUES ({s}, 'survivor', NULL), ({l1}, 'loser', 'one'), ({l2}, 'other loser', 'two');
    INSERT INTO app.child VALUES (1, {l1}, 'a'), (2, {l2}, 'b'), (3, {s}, 'c'), (4, NULL, 'd');
    INSERT INTO app.profile VALUES ({s}, {s}, 'survivor''s'), ({l1}, {l1}, 'loser''s');
    INSERT INTO app.profile_note VALUES (1, {l1}, 'on the loser''s profile'), (2, {s}, 'on the survivor''s');
    INSERT INTO app.tag VALUES ({s}, 'x'), ({l1}, 'x'), ({l1}, 'y'), ({l2}, 'z');
    """


@pytest.fixture(params=list(KEYS), ids=list(KEYS))
def keyed(request: pytest.FixtureRequest, conn: psycopg.Connection) -> tuple[psycopg.Connection, Key]:
    key = KEYS[request.param]
    conn.execute(schema(key))
    return conn, key


def contents(conn: psycopg.Connection, tables: tuple[str, ...] = TABLES) -> dict[str, list[str]]:
    """Every row of each table as its record text under fixed settings (keys as stored: 1.50, 'AB   ', ...)."""
    conn.execute(FIXED)
    result = {
        table: conn.execute(
            f"SELECT coalesce(array_agg(t::text ORDER BY t::text), '{{}}') FROM {table} AS t"
        ).fetchone()[0]
        for table in tables
    }
    conn.execute("RESET datestyle; RESET timezone; RESET extra_float_digits")
    return result


def merge(conn: psycopg.Connection, key: Key, survivor: str, losers: list[str], **options: bool) -> int:
    named = "".join(f", {name} => {str(value).lower()}" for name, value in options.items())
    return conn.execute(
        f"SELECT mlops.merge_rows('app.parent', {key.lit(survivor)}, ARRAY[{', '.join(losers)}]::{key.type}[]{named})"
    ).fetchone()[0]


def test_unmerge_restores_target_and_referencing_rows_exactly(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    before = contents(conn)
    merge_id = merge(conn, key, key.survivor, [key.loser, key.other])
    assert conn.execute("SELECT count(*) FROM app.parent").fetchone()[0] == 1
    assert conn.execute(f"SELECT count(*) FROM app.child WHERE parent_id = {key.lit(key.survivor)}").fetchone()[0] == 3
    assert conn.execute("SELECT count(*) FROM app.profile").fetchone()[0] == 1  # merged into its twin
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert contents(conn) == before


def test_merge_log_keys_read_back_as_the_key_type(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    merge_id = merge(conn, key, key.survivor, [key.loser, key.other])
    # the key type, the survivor and the losers in the order given, read back as values of the key's type
    assert conn.execute(
        f"SELECT m.key_type = '{key.type}'::regtype,"
        f" (m.survivor_key)::{key.type} = {key.lit(key.survivor)},"
        f" (m.loser_keys[1])::{key.type} = {key.lit(key.loser)}, (m.loser_keys[2])::{key.type} = {key.lit(key.other)}"
        " FROM mlops.merges AS m WHERE m.merge_id = %s",
        (merge_id,),
    ).fetchone() == (True, True, True, True)
    # archived losers under their keys; the keyless table's colliding row under none
    assert conn.execute(
        "SELECT target::text, row_key IS NULL, count(*) FROM mlops.merge_archive GROUP BY 1, 2 ORDER BY 1, 2"
    ).fetchall() == [("app.parent", False, 2), ("app.profile", False, 1), ("app.tag", True, 1)]
    assert conn.execute(
        f"SELECT bool_and((a.row_key)::{key.type} = ANY (ARRAY[{key.lit(key.loser)}, {key.lit(key.other)}]))"
        " FROM mlops.merge_archive AS a WHERE a.target = 'app.parent'::regclass"
    ).fetchone() == (True,)
    # each moved child row logged with the key of the loser it pointed at
    assert conn.execute(
        f"SELECT array_agg((mv.row_key ->> 'id')::int ORDER BY mv.row_key ->> 'id'),"
        f" bool_and((mv.loser_key)::{key.type} = c.parent_id)"
        " FROM mlops.merge_moves AS mv"
        " INNER JOIN (VALUES (1, " + key.lit(key.loser) + "), (2, " + key.lit(key.other) + ")) AS c (id, parent_id)"
        " ON c.id = (mv.row_key ->> 'id')::int"
        " WHERE mv.referencing_table = 'app.child'::regclass"
    ).fetchone() == ([1, 2], True)


def test_unmerge_of_a_soft_deleting_merge_revives_the_losers_exactly(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    conn.execute("SELECT mlops.add_soft_delete_columns('app.parent')")
    before = contents(conn)
    merge_id = merge(conn, key, key.survivor, [key.loser, key.other], p_soft_delete=True)
    assert conn.execute(
        f"SELECT count(*) FROM app.parent WHERE merged_into = {key.lit(key.survivor)} AND deleted_at IS NOT NULL"
    ).fetchone() == (2,)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert contents(conn) == before


def test_resolve_id_of_a_loser_gives_the_survivor_in_the_arguments_type(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    merge(conn, key, key.survivor, [key.loser])
    resolved, type_name = conn.execute(
        f"SELECT mlops.resolve_id('app.parent', {key.lit(key.loser)}) = {key.lit(key.survivor)},"
        f" pg_typeof(mlops.resolve_id('app.parent', {key.lit(key.loser)}))::text"
    ).fetchone()
    assert resolved is True
    # a domain is passed as its base type (polymorphic arguments drop domains)
    assert type_name == conn.execute(f"SELECT pg_typeof(({key.lit(key.loser)})::{key.type})::text").fetchone()[0]
    # text in, text out: the survivor's key as stored (read back as the key type)
    as_text, text_type = conn.execute(
        f"SELECT mlops.resolve_id('app.parent', ({key.lit(key.loser)})::text),"
        f" pg_typeof(mlops.resolve_id('app.parent', ({key.lit(key.loser)})::text))::text"
    ).fetchone()
    assert text_type == "text"
    assert conn.execute(f"SELECT %s::{key.type} = {key.lit(key.survivor)}", (as_text,)).fetchone() == (True,)
    # never merged: the key itself; nowhere: NULL
    assert conn.execute(
        f"SELECT mlops.resolve_id('app.parent', {key.lit(key.other)}) = {key.lit(key.other)}"
    ).fetchone() == (True,)


def test_resolve_id_after_undo_gives_the_key_itself(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    merge_id = merge(conn, key, key.survivor, [key.loser])
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute(
        f"SELECT mlops.resolve_id('app.parent', {key.lit(key.loser)}) = {key.lit(key.loser)}"
    ).fetchone() == (True,)


# key types whose equal values can be spelled otherwise (the others have one text per value)
SPELLED_OTHERWISE = [name for name, key in KEYS.items() if key.loser_spelled_otherwise is not None]


@pytest.mark.parametrize("key_name", SPELLED_OTHERWISE)
def test_resolve_id_compares_with_the_key_types_equality(conn: psycopg.Connection, key_name: str) -> None:
    key = KEYS[key_name]
    conn.execute(schema(key))
    merge(conn, key, key.survivor, [key.loser])
    # 'alfka' for citext 'ALFKA', 2.5 for numeric 2.50, another offset for the same instant, upper-case uuid
    assert conn.execute(
        f"SELECT mlops.resolve_id('app.parent', {key.lit(key.loser_spelled_otherwise)}) = {key.lit(key.survivor)}"
    ).fetchone() == (True,)


@pytest.mark.parametrize(
    ("key_name", "value", "sqlstate"),
    [
        ("uuid", "'not a uuid'::text", "22P02"),
        ("uuid", "5", "42846"),
        ("numeric", "'1.5x'::text", "22P02"),
        ("domain", "'ten'::text", "22P02"),
        ("timestamptz", "'the day after'::text", "22007"),
    ],
)
def test_resolve_id_of_a_value_the_key_type_cannot_read_raises_the_casts_error(
    conn: psycopg.Connection, key_name: str, value: str, sqlstate: str
) -> None:
    conn.execute(schema(KEYS[key_name]))
    with pytest.raises(psycopg.Error) as exc:
        conn.execute(f"SELECT mlops.resolve_id('app.parent', {value})")
    assert exc.value.sqlstate == sqlstate
    assert "app.parent" in str(exc.value)


def test_resolve_id_of_a_table_without_a_single_column_key_is_refused(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.pair (a text, b text, PRIMARY KEY (a, b))")
    with pytest.raises(psycopg.errors.FeatureNotSupported) as exc:
        conn.execute("SELECT mlops.resolve_id('public.pair', 'x')")
    assert "public.pair" in str(exc.value) and "more than one column" in str(exc.value)


def test_resolve_id_follows_a_chain_of_uuid_merges(conn: psycopg.Connection) -> None:
    key = KEYS["uuid"]
    conn.execute(schema(key))
    merge(conn, key, key.survivor, [key.loser])
    merge(conn, key, key.other, [key.survivor])
    assert (
        conn.execute(
            f"SELECT mlops.resolve_id('app.parent', {key.lit(key.loser)})::text, ({key.lit(key.other)})::text"
        ).fetchone()
        == (key.other.strip("'"),) * 2
    )


def test_unmerge_refused_when_a_losers_key_was_reused(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    merge_id = merge(conn, key, key.survivor, [key.loser])
    # the same key, written as the type's equality sees it (citext: another case)
    reused = key.loser_spelled_otherwise if key.type == "public.citext" else key.loser
    conn.execute(f"INSERT INTO app.parent VALUES ({key.lit(reused)}, 'newcomer', NULL)")
    before = contents(conn)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert (
        f"cannot undo merge {merge_id}: a row of app.parent written since the merge holds a value of a merged row"
        in (str(exc.value))
    )
    assert contents(conn) == before


def test_unmerge_refused_while_a_later_merge_took_the_survivor(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    first = merge(conn, key, key.survivor, [key.loser])
    second = merge(conn, key, key.other, [key.survivor])
    before = contents(conn)
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (first,))
    assert f"cannot undo merge {first}: merge {second} merged row(s) " in str(exc.value)
    assert exc.value.diag.message_hint == f"Undo merge {second} first."
    assert contents(conn) == before
    conn.execute("SELECT mlops.unmerge(%s)", (second,))
    conn.execute("SELECT mlops.unmerge(%s)", (first,))
    assert conn.execute("SELECT count(*) FROM app.parent").fetchone() == (3,)


def test_unmerge_sees_a_later_merge_logged_under_another_timezone(conn: psycopg.Connection) -> None:
    """timestamptz keys print with the session's offset: the dependency is found by value, not by text."""
    key = KEYS["timestamptz"]
    conn.execute(schema(key))
    conn.execute("SET timezone = 'UTC'")
    first = merge(conn, key, key.survivor, [key.loser])
    conn.execute("SET timezone = 'Asia/Tokyo'")
    second = merge(conn, key, key.other, [key.survivor])
    with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        conn.execute("SELECT mlops.unmerge(%s)", (first,))
    assert f"merge {second} merged row(s)" in str(exc.value)
    conn.execute("RESET timezone")


def test_references_to_soft_deleted_rows_are_re_pointed_and_undone(keyed: tuple[psycopg.Connection, Key]) -> None:
    conn, key = keyed
    conn.execute("SELECT mlops.add_soft_delete_columns('app.parent')")
    before = contents(conn)
    merge_id = merge(conn, key, key.survivor, [key.loser], p_soft_delete=True)
    # the application references the soft-deleted loser afterwards; the next run re-points it, logged under the merge
    conn.execute(f"INSERT INTO app.child VALUES (5, {key.lit(key.loser)}, 'late')")
    assert conn.execute("SELECT mlops.merge_repoint_stale('app.parent')").fetchone() == (1,)
    assert conn.execute(f"SELECT parent_id = {key.lit(key.survivor)} FROM app.child WHERE id = 5").fetchone() == (True,)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    conn.execute("DELETE FROM app.child WHERE id = 5")
    assert contents(conn) == before


# ---------------------------------------------------------------- declared references (no FK) to keys of any type

DECLARED = """
CREATE SCHEMA app;
CREATE TABLE app.users (id uuid PRIMARY KEY, email text);
CREATE TABLE app.attachments (
    id bigint PRIMARY KEY, name text, record_type text, record_id text, blob text,
    UNIQUE (record_type, record_id, name)
);
CREATE TABLE app.events (id bigint PRIMARY KEY, payload jsonb);
INSERT INTO app.users VALUES
    ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'a@x'), ('b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'a@x');
INSERT INTO app.attachments VALUES
    (1, 'avatar', 'User', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'A'),
    (2, 'cv', 'User', 'b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12', 'B'),
    (3, 'cv-old', 'User', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'C');
INSERT INTO app.events VALUES
    (1, '{"user": {"id": "b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12"}, "kind": "signup"}'), (2, '{"kind": "other"}');
INSERT INTO mlops.declared_references (referencing_table, id_column, target, type_column, type_value)
VALUES ('app.attachments', 'record_id', 'app.users', 'record_type', 'User');
INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)
VALUES ('app.events', 'payload', 'app.users', '{user,id}');
"""
DECLARED_TABLES = ("app.users", "app.attachments", "app.events")
USER_A, USER_B = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "b1ffbc99-9c0b-4ef8-bb6d-6bb9bd380a12"


@pytest.mark.parametrize("users_undone", ["first", "last"])
def test_a_declared_reference_moved_then_merged_away_comes_back_whichever_merge_is_undone_first(
    conn: psycopg.Connection, users_undone: str
) -> None:
    conn.execute(DECLARED)
    before = contents(conn, DECLARED_TABLES)
    users = conn.execute("SELECT mlops.merge_rows('app.users', %s::uuid, %s::uuid[])", (USER_A, [USER_B])).fetchone()[0]
    assert conn.execute("SELECT record_id FROM app.attachments WHERE id = 2").fetchone() == (USER_A,)
    assert conn.execute("SELECT payload #>> '{user,id}' FROM app.events WHERE id = 1").fetchone() == (USER_A,)
    # the moved rows are themselves merged away, archived as they are now (pointing at the survivor)
    others = [
        conn.execute("SELECT mlops.merge_rows('app.attachments', 3, ARRAY[2])").fetchone()[0],
        conn.execute("SELECT mlops.merge_rows('app.events', 2, ARRAY[1])").fetchone()[0],
    ]
    for merge_id in [users, *others] if users_undone == "first" else [*others, users]:
        conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert contents(conn, DECLARED_TABLES) == before


def test_a_declared_text_reference_to_numeric_keys_comes_back_with_its_scale(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.price (id numeric PRIMARY KEY, label text);
        CREATE TABLE public.quote (id bigint PRIMARY KEY, price_ref text, doc jsonb);
        INSERT INTO public.price VALUES (1.50, 'a'), (2.50, 'b');
        INSERT INTO public.quote VALUES (1, '2.50', '{"price": 2.50}'), (2, '1.50', '{"price": "2.50"}');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target)
        VALUES ('public.quote', 'price_ref', 'public.price');
        INSERT INTO mlops.declared_references (referencing_table, id_column, target, json_path)
        VALUES ('public.quote', 'doc', 'public.price', '{price}');
        """
    )
    before = contents(conn, ("public.price", "public.quote"))
    merge_id = conn.execute("SELECT mlops.merge_rows('public.price', 1.50, ARRAY[2.50])").fetchone()[0]
    assert conn.execute("SELECT price_ref, doc FROM public.quote ORDER BY id").fetchall() == [
        ("1.50", {"price": 1.50}),
        ("1.50", {"price": "1.50"}),
    ]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert contents(conn, ("public.price", "public.quote")) == before
