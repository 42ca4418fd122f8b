"""Case A of issue 8: an FK to a nullable unique key. A merge never re-points references to a NULL: it refuses,
before anything changes, naming the FK and the rows; references to a key the survivor has take the survivor's value
(the same entity, as with the primary key) and undo points them back."""

from __future__ import annotations

import psycopg
import pytest

from tests.helpers import merge_log_counts, snapshot

TABLES = ("public.acct", "public.post")


@pytest.fixture
def accounts(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        """
        CREATE TABLE public.acct (id bigint PRIMARY KEY, handle text UNIQUE, name text);
        CREATE TABLE public.post (id bigint PRIMARY KEY, author text REFERENCES public.acct (handle));
        INSERT INTO public.acct VALUES (1, NULL, 'Lee'), (2, 'lee', 'Lee'), (3, 'lee3', 'Lee');
        INSERT INTO public.post VALUES (100, 'lee'), (101, 'lee'), (102, NULL);
        """
    )
    return conn


def test_merge_refuses_to_null_references_to_a_nullable_unique_key(accounts: psycopg.Connection) -> None:
    before = snapshot(accounts, TABLES), merge_log_counts(accounts)
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("SELECT mlops.merge_rows('public.acct', 1, ARRAY[2]::bigint[])")
    assert exc.value.sqlstate == "55000"
    assert "2 row(s) of public.post reference loser(s) through post_author_fkey (author)" in str(exc.value)
    assert "2 -> 1 (2 row(s))" in (exc.value.diag.message_detail or "")
    assert "Merge the other way" in (exc.value.diag.message_hint or "")
    assert (snapshot(accounts, TABLES), merge_log_counts(accounts)) == before


def test_merge_refuses_even_with_fill_nulls(accounts: psycopg.Connection) -> None:
    before = snapshot(accounts, TABLES), merge_log_counts(accounts)
    with pytest.raises(psycopg.Error) as exc:
        accounts.execute("SELECT mlops.merge_rows('public.acct', 1, ARRAY[2]::bigint[], p_fill_nulls => true)")
    assert exc.value.sqlstate == "55000"
    assert (snapshot(accounts, TABLES), merge_log_counts(accounts)) == before


def test_merge_into_the_row_holding_the_key_keeps_the_references(accounts: psycopg.Connection) -> None:
    merge_id = accounts.execute("SELECT mlops.merge_rows('public.acct', 2, ARRAY[1]::bigint[])").fetchone()[0]
    assert accounts.execute("SELECT id, author FROM public.post ORDER BY id").fetchall() == [
        (100, "lee"),
        (101, "lee"),
        (102, None),
    ]
    accounts.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert accounts.execute("SELECT id, handle FROM public.acct ORDER BY id").fetchall() == [
        (1, None),
        (2, "lee"),
        (3, "lee3"),
    ]


def test_references_take_the_survivors_own_key_value_and_undo_points_them_back(
    accounts: psycopg.Connection,
) -> None:
    before = snapshot(accounts, TABLES)
    merge_id = accounts.execute("SELECT mlops.merge_rows('public.acct', 3, ARRAY[2]::bigint[])").fetchone()[0]
    assert accounts.execute("SELECT id, author FROM public.post ORDER BY id").fetchall() == [
        (100, "lee3"),
        (101, "lee3"),
        (102, None),
    ]
    accounts.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(accounts, TABLES) == before


def test_survivor_with_null_key_merges_when_nothing_references_the_loser(accounts: psycopg.Connection) -> None:
    accounts.execute("SELECT mlops.merge_rows('public.acct', 1, ARRAY[3]::bigint[])")
    assert accounts.execute("SELECT id, handle FROM public.acct ORDER BY id").fetchall() == [(1, None), (2, "lee")]
    assert accounts.execute("SELECT count(*) FROM public.post WHERE author IS NOT NULL").fetchone() == (2,)


@pytest.mark.parametrize("match", ["MATCH SIMPLE", "MATCH FULL"])
def test_composite_fk_refused_when_any_survivor_column_is_null(conn: psycopg.Connection, match: str) -> None:
    conn.execute(
        f"""
        CREATE TABLE public.acct (id bigint PRIMARY KEY, realm int, handle text, UNIQUE (realm, handle));
        CREATE TABLE public.post (id bigint PRIMARY KEY, realm int, author text,
            FOREIGN KEY (realm, author) REFERENCES public.acct (realm, handle) {match});
        INSERT INTO public.acct VALUES (1, 7, NULL), (2, 7, 'lee');
        INSERT INTO public.post VALUES (100, 7, 'lee'), (101, NULL, NULL);
        """
    )
    before = snapshot(conn, TABLES), merge_log_counts(conn)
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT mlops.merge_rows('public.acct', 1, ARRAY[2]::bigint[])")
    assert exc.value.sqlstate == "55000"
    assert "1 row(s) of public.post reference loser(s)" in str(exc.value)
    assert (snapshot(conn, TABLES), merge_log_counts(conn)) == before
