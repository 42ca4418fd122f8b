"""fill_nulls works for every column type (arrays, bytea, json, jsonb, domains, enums, composites), fills unique
columns once the losers' values are gone (or skips and reports them when the losers stay), and undo clears exactly
what it filled."""

from __future__ import annotations

import psycopg
import pytest

TYPES_SCHEMA = """
CREATE TYPE public.mood AS ENUM ('sad', 'ok');
CREATE TYPE public.pair AS (a int, b json);
CREATE DOMAIN public.posint AS int CHECK (VALUE > 0);
CREATE TABLE public.p (
    id bigint PRIMARY KEY, tags text[], grid int[], raw bytea, j json, jb jsonb, d public.posint, e public.mood,
    c public.pair, f float8, r int4range
);
INSERT INTO public.p VALUES
    (1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
    (2, NULL, '[0:1]={5,6}', NULL, '{"k": 1,  "k": 2}', NULL, 4, NULL, ROW(NULL, NULL), NULL, NULL),
    (3, '{a,b}', '{7}', '\\x0102', '{"other": true}', '{"z": [1]}', 9, 'ok', ROW(1, '[ 1 ]'), 0.1, '[1,5)');
"""

TEXT_SQL = (
    "SELECT tags::text, grid::text, raw::text, j::text, jb::text, d::text, e::text, c::text, f::text, r::text"
    " FROM public.p WHERE id = %s"
)


def test_fill_takes_the_first_loser_value_of_every_type_and_undo_clears_it(conn: psycopg.Connection) -> None:
    conn.execute(TYPES_SCHEMA)
    merge_id = conn.execute(
        "SELECT mlops.merge_rows('public.p', 1, ARRAY[2, 3]::bigint[], p_fill_nulls => true)"
    ).fetchone()[0]
    assert conn.execute(TEXT_SQL, (1,)).fetchone() == (
        "{a,b}",
        "[0:1]={5,6}",
        "\\x0102",
        '{"k": 1,  "k": 2}',
        '{"z": [1]}',
        "4",
        "ok",
        "(,)",
        "0.1",
        "[1,5)",
    )
    assert conn.execute(
        "SELECT filled_text ->> 'j', filled_text ->> 'grid' FROM mlops.merges WHERE merge_id = %s", (merge_id,)
    ).fetchone() == ('{"k": 1,  "k": 2}', "[0:1]={5,6}")
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute(TEXT_SQL, (1,)).fetchone() == (None,) * 10
    assert conn.execute(TEXT_SQL, (2,)).fetchone()[3] == '{"k": 1,  "k": 2}'


def test_undo_keeps_a_filled_json_changed_since_to_an_equal_jsonb_text(conn: psycopg.Connection) -> None:
    conn.execute(TYPES_SCHEMA)
    merge_id = conn.execute(
        "SELECT mlops.merge_rows('public.p', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
    ).fetchone()[0]
    conn.execute("""UPDATE public.p SET j = '{"k": 2}' WHERE id = 1""")  # same as jsonb, other text
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute("SELECT j::text, grid::text FROM public.p WHERE id = 1").fetchone() == ('{"k": 2}', None)


def test_unique_column_is_filled_after_the_loser_is_deleted_and_undo_gives_it_back(
    conn: psycopg.Connection,
) -> None:
    conn.execute(
        """
        CREATE TABLE public.usr (id bigint PRIMARY KEY, login text UNIQUE, nick text);
        INSERT INTO public.usr VALUES (1, NULL, NULL), (2, 'lee', 'L');
        """
    )
    merge_id = conn.execute(
        "SELECT mlops.merge_rows('public.usr', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
    ).fetchone()[0]
    assert conn.execute("SELECT id, login, nick FROM public.usr").fetchall() == [(1, "lee", "L")]
    assert conn.execute("SELECT filled, fill_skipped FROM mlops.merges").fetchone() == (
        {"login": "lee", "nick": "L"},
        None,
    )
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute("SELECT id, login, nick FROM public.usr ORDER BY id").fetchall() == [
        (1, None, None),
        (2, "lee", "L"),
    ]


def test_unique_column_is_skipped_and_reported_when_the_losers_stay(conn: psycopg.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE public.usr (id bigint PRIMARY KEY, login text UNIQUE, nick text, deleted_at timestamptz,
            merged_into bigint);
        INSERT INTO public.usr VALUES (1, NULL, NULL, NULL, NULL), (2, 'lee', 'L', NULL, NULL);
        """
    )
    notices: list[str] = []
    conn.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    conn.execute(
        "SELECT mlops.merge_rows('public.usr', 1, ARRAY[2]::bigint[], p_soft_delete => true, p_fill_nulls => true)"
    )
    assert conn.execute("SELECT id, login, nick, merged_into FROM public.usr ORDER BY id").fetchall() == [
        (1, None, "L", None),
        (2, "lee", "L", 1),
    ]
    assert conn.execute("SELECT filled, fill_skipped FROM mlops.merges").fetchone() == ({"nick": "L"}, ["login"])
    assert any("left column(s) login NULL in 1 survivor(s)" in n for n in notices)


@pytest.mark.parametrize(
    "constraint",
    ["UNIQUE (login, realm)", "EXCLUDE USING btree (login WITH =)"],
)
def test_columns_of_multi_column_or_exclusion_constraints_are_skipped(
    conn: psycopg.Connection, constraint: str
) -> None:
    conn.execute(
        f"""
        CREATE TABLE public.usr (id bigint PRIMARY KEY, login text, realm int, CONSTRAINT usr_login_key {constraint});
        INSERT INTO public.usr VALUES (1, NULL, 1), (2, 'lee', 1), (3, 'lee', 2);
        """
        if "realm" in constraint
        else f"""
        CREATE TABLE public.usr (id bigint PRIMARY KEY, login text, realm int, CONSTRAINT usr_login_key {constraint});
        INSERT INTO public.usr VALUES (1, NULL, 1), (2, 'lee', 1);
        """
    )
    conn.execute("SELECT mlops.merge_rows('public.usr', 1, ARRAY[2]::bigint[], p_fill_nulls => true)")
    assert conn.execute("SELECT login FROM public.usr WHERE id = 1").fetchone() == (None,)
    assert conn.execute("SELECT fill_skipped FROM mlops.merges").fetchone() == (["login"],)
