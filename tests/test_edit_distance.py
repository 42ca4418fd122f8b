"""Edit distances for record linkage: mlops.edit_distance gives fuzzystrmatch's levenshtein_less_equal numbers (in
characters, exact up to the bound, the bound + 1 beyond), mlops.edit_distance_sql uses fuzzystrmatch where it is and
mlops.edit_distance where it is not, and install goes on without fuzzystrmatch, saying so."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.conninfo import make_conninfo

import runner

# Few letters, so random pairs share some; Hangul (3 bytes in UTF-8) and an accented letter (2 bytes).
ALPHABET = "abcx가각나é"


def fuzzystrmatch_schema(conn: psycopg.Connection) -> str:
    conn.execute("CREATE EXTENSION IF NOT EXISTS fuzzystrmatch")
    return conn.execute(
        "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'fuzzystrmatch'"
    ).fetchone()[0]


@st.composite
def edited(draw: st.DrawFn) -> tuple[str, str]:
    """A text and a copy with a few insertions, deletions and substitutions: distances around the bounds."""
    left = draw(st.text(alphabet=ALPHABET, max_size=30))
    right = list(left)
    for _ in range(draw(st.integers(0, 4))):
        position = draw(st.integers(0, len(right)))
        kind = draw(st.sampled_from(["insert", "delete", "substitute"]))
        if kind == "insert":
            right.insert(position, draw(st.sampled_from(ALPHABET)))
        elif position < len(right):
            if kind == "delete":
                del right[position]
            else:
                right[position] = draw(st.sampled_from(ALPHABET))
    return left, "".join(right)


PAIRS = st.lists(
    st.one_of(edited(), st.tuples(st.text(alphabet=ALPHABET, max_size=12), st.text(alphabet=ALPHABET, max_size=12))),
    min_size=1,
    max_size=50,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=PAIRS, bound=st.sampled_from([0, 1, 2, 3, 5, 8, 40]))
def test_edit_distance_agrees_with_fuzzystrmatch(
    conn: psycopg.Connection, pairs: list[tuple[str, str]], bound: int
) -> None:
    schema = fuzzystrmatch_schema(conn)
    rows = conn.execute(
        f"""
        SELECT p.l, p.r, mlops.edit_distance(p.l, p.r, %(bound)s),
            least({schema}.levenshtein_less_equal(p.l, p.r, %(bound)s), %(bound)s + 1)
        FROM unnest(%(left)s::text[], %(right)s::text[]) AS p (l, r)
        """,
        {"left": [p[0] for p in pairs], "right": [p[1] for p in pairs], "bound": bound},
    ).fetchall()
    assert [row for row in rows if row[2] != row[3]] == []


@pytest.mark.parametrize(
    ("left", "right", "bound", "expected"),
    [
        ("kitten", "sitting", 5, 3),
        ("kitten", "sitting", 3, 3),
        ("kitten", "sitting", 2, 3),  # beyond the bound: the bound + 1
        ("", "", 0, 0),
        ("", "abc", 3, 3),
        ("abc", "", 1, 2),
        ("abc", "abc", 0, 0),
        ("abc", "abd", 0, 1),
        ("ab", "ba", 5, 2),  # no transpositions: two substitutions
        ("20240131", "20240113", 3, 2),
        ("A-1027", "A-1072", 2, 2),
        ("서울특별시", "서울시", 5, 2),  # characters, not bytes (bytes: 6)
        ("가", "각", 1, 1),  # one character apart, though their UTF-8 share two bytes
        ("김민준", "김민중", 0, 1),
        ("x" * 300, "x" * 299 + "y", 1, 1),  # longer than fuzzystrmatch takes
        (None, "abc", 2, None),
        ("abc", None, 2, None),
    ],
)
def test_edit_distance_known_values(
    conn: psycopg.Connection, left: str | None, right: str | None, bound: int, expected: int | None
) -> None:
    assert conn.execute("SELECT mlops.edit_distance(%s, %s, %s)", (left, right, bound)).fetchone()[0] == expected


def test_edit_distance_compares_characters_whatever_the_collation(conn: psycopg.Connection) -> None:
    conn.execute("CREATE COLLATION ignore_case (provider = icu, locale = 'und-u-ks-level2', deterministic = false)")
    assert conn.execute("SELECT 'Kim' = 'KIM' COLLATE ignore_case").fetchone()[0]
    assert conn.execute("SELECT mlops.edit_distance('Kim' COLLATE ignore_case, 'KIM', 3)").fetchone()[0] == 2


def test_edit_distance_refuses_a_negative_bound(conn: psycopg.Connection) -> None:
    for left, right in [("abc", "abd"), ("abc", "abc")]:
        with pytest.raises(psycopg.errors.InvalidParameterValue) as exc:
            conn.execute("SELECT mlops.edit_distance(%s, %s, -1)", (left, right))
        assert exc.value.sqlstate == "22023"
        assert exc.value.diag.message_primary == "edit distance: p_max must be 0 or more, not -1"


# Pairs around both bounds, fuzzystrmatch's 255 characters, NULL and Korean.
SQL_PAIRS = [
    ("kitten", "sitting"),
    ("", "abc"),
    ("abc", "abc"),
    ("서울특별시", "서울시"),
    ("a" * 255, "a" * 254 + "b"),
    ("a" * 256, "a" * 255 + "b"),
    ("a" * 300, "b" * 10),
    (None, "abc"),
]


def distances(conn: psycopg.Connection, expression: str) -> list[int | None]:
    return [
        row[0]
        for row in conn.execute(
            f"SELECT {expression} FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS p (l, r, n) ORDER BY p.n",
            ([p[0] for p in SQL_PAIRS], [p[1] for p in SQL_PAIRS]),
        ).fetchall()
    ]


def test_edit_distance_sql_uses_fuzzystrmatch_where_installed_and_the_fallback_where_not(
    conn: psycopg.Connection,
) -> None:
    conn.execute("CREATE SCHEMA ext")
    fuzzystrmatch_schema(conn)
    conn.execute("ALTER EXTENSION fuzzystrmatch SET SCHEMA ext")
    (with_extension,) = conn.execute("SELECT mlops.edit_distance_sql('p.l', 'p.r', 2)").fetchone()
    assert with_extension == (
        "CASE WHEN pg_catalog.char_length(p.l) <= 255 AND pg_catalog.char_length(p.r) <= 255"
        " THEN least(ext.levenshtein_less_equal(p.l, p.r, 2), 3) ELSE mlops.edit_distance(p.l, p.r, 2) END"
    )
    fast = distances(conn, with_extension)

    conn.execute("DROP EXTENSION fuzzystrmatch")
    (fallback,) = conn.execute("SELECT mlops.edit_distance_sql('p.l', 'p.r', 2)").fetchone()

    assert fallback == "mlops.edit_distance(p.l, p.r, 2)"
    assert fast == distances(conn, fallback) == [3, 3, 0, 2, 1, 1, 3, None]


def test_edit_distance_sql_with_a_bound_past_255_stays_exact(conn: psycopg.Connection) -> None:
    fuzzystrmatch_schema(conn)
    (expression,) = conn.execute("SELECT mlops.edit_distance_sql('p.l', 'p.r', 2147483647)").fetchone()
    assert distances(conn, expression) == [3, 3, 0, 2, 1, 1, 300, None]


@pytest.mark.parametrize(
    ("arguments", "sqlstate", "message"),
    [
        (("p.l", "p.r", -1), "22023", "edit distance: p_max must be 0 or more, not -1"),
        (("p.l", "p.r", None), "22004", "edit distance SQL: the two expressions and p_max must not be NULL"),
        ((None, "p.r", 2), "22004", "edit distance SQL: the two expressions and p_max must not be NULL"),
    ],
)
def test_edit_distance_sql_refuses_a_negative_or_null_argument(
    conn: psycopg.Connection, arguments: tuple, sqlstate: str, message: str
) -> None:
    with pytest.raises(psycopg.Error) as exc:
        conn.execute("SELECT mlops.edit_distance_sql(%s, %s, %s::integer)", arguments)
    assert exc.value.sqlstate == sqlstate
    assert exc.value.diag.message_primary == message


# ---------------------------------------------------------------- install


def test_install_creates_fuzzystrmatch_beside_pg_trgm_and_says_so(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA ext")
    report = runner.install(empty_dsn, extension_schema="ext")
    assert report.extension == "created extension pg_trgm in schema ext"
    assert report.fuzzystrmatch == "created extension fuzzystrmatch in schema ext"
    assert report.fuzzystrmatch_missing is None
    assert "created extension fuzzystrmatch in schema ext" in report.summary()
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute(
            "SELECT extname, extnamespace::regnamespace::text FROM pg_extension"
            " WHERE extname IN ('pg_trgm', 'fuzzystrmatch') ORDER BY 1"
        ).fetchall() == [("fuzzystrmatch", "ext"), ("pg_trgm", "ext")]


@pytest.fixture
def installer(empty_dsn: str) -> Iterator[str]:
    """A LOGIN role with CREATE on the test database and nothing more: not a superuser. Dropped afterwards."""
    role = f"installer_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        admin.execute(f"GRANT CREATE ON DATABASE {admin.info.dbname} TO {role}")
    yield make_conninfo(empty_dsn, user=role)
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(f"DROP OWNED BY {role}")
        admin.execute(f"DROP ROLE {role}")


def test_install_by_a_role_that_may_not_create_fuzzystrmatch_uses_the_fallback(empty_dsn: str, installer: str) -> None:
    """fuzzystrmatch is trusted since PostgreSQL 13, so any role with CREATE on the database may create it; managed
    services refuse extensions outside their allow-list, as this event trigger does for roles that are not superusers.
    The DBA created pg_trgm, which the package requires."""
    with psycopg.connect(empty_dsn, autocommit=True) as admin:
        admin.execute(
            """
            CREATE EXTENSION pg_trgm;
            CREATE FUNCTION public.refuse_extensions() RETURNS event_trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                    RAISE EXCEPTION 'permission denied to create extension' USING ERRCODE = 'insufficient_privilege';
                END IF;
            END $$;
            CREATE EVENT TRIGGER refuse_extensions ON ddl_command_start WHEN TAG IN ('CREATE EXTENSION')
                EXECUTE FUNCTION public.refuse_extensions();
            """
        )

    report = runner.install(installer)

    assert report.extension == "pg_trgm is installed in schema public; using it there"
    assert report.fuzzystrmatch == ""
    assert report.fuzzystrmatch_missing == (
        "fuzzystrmatch is not installed and this role may not create it (permission denied to create extension): "
        "ask the database owner to run CREATE EXTENSION fuzzystrmatch WITH SCHEMA public, then install again"
    )
    assert (
        "WARNING: fuzzystrmatch is not installed and this role may not create it (permission denied to create "
        "extension): ask the database owner to run CREATE EXTENSION fuzzystrmatch WITH SCHEMA public, then install "
        "again. Until then edit distances use the package's PL/pgSQL fallback, mlops.edit_distance: the same "
        "numbers, tens of times slower"
    ) in report.summary()
    with psycopg.connect(installer) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'fuzzystrmatch'").fetchone() == (0,)
        (expression,) = conn.execute("SELECT mlops.edit_distance_sql(%s, %s, 2)", ("'A-1027'", "'A-1072'")).fetchone()
        assert expression == "mlops.edit_distance('A-1027', 'A-1072', 2)"
        assert conn.execute(f"SELECT {expression}").fetchone() == (2,)


def test_install_goes_on_when_a_function_of_fuzzystrmatch_holds_its_name(empty_dsn: str) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION public.soundex(text) RETURNS text LANGUAGE sql AS 'SELECT $1'")

    report = runner.install(empty_dsn)

    assert report.extension == "created extension pg_trgm in schema public"
    assert report.fuzzystrmatch_missing == (
        "fuzzystrmatch cannot be created in schema public: it already holds a function of fuzzystrmatch's "
        '(function "soundex" already exists with same argument types); pass --extension-schema with another '
        "schema (CREATE SCHEMA extensions first), or install fuzzystrmatch yourself"
    )
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute(
            "SELECT extname FROM pg_extension WHERE extname IN ('pg_trgm', 'fuzzystrmatch')"
        ).fetchall() == [("pg_trgm",)]
        assert conn.execute("SELECT public.soundex('x')").fetchone() == ("x",)  # the user's, untouched
