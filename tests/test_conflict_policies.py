"""Colliding referencing rows follow the table's conflict policy (twin, combine, refuse), every merge reports them,
and collisions are planned for every kind of unique index (expression, generated column, deferrable, citext,
partial) as the index itself compares rows."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from helpers import load_incident, merge_log_counts, snapshot

import runner

# Case D of issue 8: two SKUs of one product on the same order; merging them makes the order lines collide.
CASE_D = """
CREATE TABLE product (id int PRIMARY KEY, name text);
CREATE TABLE line (
    order_id int, product_id int REFERENCES product, qty int, note text, PRIMARY KEY (order_id, product_id)
);
INSERT INTO product VALUES (1, 'Chai'), (78, 'Chai (old SKU)');
INSERT INTO line VALUES (10285, 1, 45, 'first'), (10285, 78, 10, 'second'), (10300, 78, 3, NULL);
"""
CASE_D_TABLES = ("public.product", "public.line")


@pytest.fixture
def case_d(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(CASE_D)
    return conn


def declare(conn: psycopg.Connection, table: str, action: str, combine: dict | None = None) -> None:
    conn.execute(
        "INSERT INTO mlops.conflict_policies (referencing_table, action, combine) VALUES (%s::regclass, %s, %s)",
        (table, action, None if combine is None else json.dumps(combine)),
    )


def merge(conn: psycopg.Connection, table: str, survivor: int, losers: list[int]) -> int:
    return conn.execute(
        "SELECT mlops.merge_rows(%s::regclass, %s::bigint, %s::bigint[])", (table, survivor, losers)
    ).fetchone()[0]


def lines(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute("SELECT order_id, product_id, qty, note FROM line ORDER BY order_id, product_id").fetchall()


def conflicts(conn: psycopg.Connection, merge_id: int) -> dict:
    return conn.execute("SELECT conflicts FROM mlops.merges WHERE merge_id = %s", (merge_id,)).fetchone()[0]


# ---------------------------------------------------------------- case D under each policy


def test_twin_without_policy_merges_colliding_line_and_reports_it(case_d: psycopg.Connection) -> None:
    notices: list[str] = []
    case_d.add_notice_handler(lambda d: notices.append(d.message_primary or ""))
    merge_id = merge(case_d, "product", 1, [78])
    assert lines(case_d) == [(10285, 1, 45, "first"), (10300, 1, 3, None)]
    assert conflicts(case_d, merge_id) == {
        "public.line": {"policy": "twin", "merged": 1, "differed": 1, "columns": ["note", "qty"]}
    }
    assert any("1 colliding row(s) of public.line" in n and "1 of them differed" in n for n in notices)
    archived = case_d.execute("SELECT row_data FROM mlops.merge_archive WHERE target = 'line'::regclass").fetchall()
    assert archived == [({"order_id": 10285, "product_id": 78, "qty": 10, "note": "second"},)]


def test_combine_sum_keeps_every_unit_and_undo_restores_both_lines(case_d: psycopg.Connection) -> None:
    declare(case_d, "line", "combine", {"qty": "sum", "note": "concat"})
    before = snapshot(case_d, CASE_D_TABLES)
    merge_id = merge(case_d, "product", 1, [78])
    assert case_d.execute("SELECT sum(qty) FROM line").fetchone() == (58,)  # 45 + 10 + 3, as before
    assert lines(case_d) == [(10285, 1, 55, "first\nsecond"), (10300, 1, 3, None)]
    assert conflicts(case_d, merge_id)["public.line"]["policy"] == "combine"
    case_d.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(case_d, CASE_D_TABLES) == before


@pytest.mark.parametrize(
    ("combine", "expected"),
    [({"qty": "min"}, 10), ({"qty": "max"}, 45), ({"qty": "fill"}, 45), ({"qty": "sum"}, 55)],
)
def test_combine_aggregates(case_d: psycopg.Connection, combine: dict, expected: int) -> None:
    declare(case_d, "line", "combine", combine)
    merge(case_d, "product", 1, [78])
    assert case_d.execute("SELECT qty FROM line WHERE order_id = 10285").fetchall() == [(expected,)]


def test_combine_fill_takes_the_colliding_value_when_the_twin_has_none(case_d: psycopg.Connection) -> None:
    case_d.execute("UPDATE line SET note = NULL WHERE product_id = 1")
    declare(case_d, "line", "combine", {"note": "fill"})
    merge_id = merge(case_d, "product", 1, [78])
    assert case_d.execute("SELECT note FROM line WHERE order_id = 10285").fetchone() == ("second",)
    case_d.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert lines(case_d)[0] == (10285, 1, 45, None)


def test_undo_of_combine_keeps_a_value_changed_since(case_d: psycopg.Connection) -> None:
    declare(case_d, "line", "combine", {"qty": "sum"})
    merge_id = merge(case_d, "product", 1, [78])
    case_d.execute("UPDATE line SET qty = 60 WHERE order_id = 10285")
    case_d.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert lines(case_d) == [(10285, 1, 60, "first"), (10285, 78, 10, "second"), (10300, 78, 3, None)]


def test_refuse_names_rows_index_and_policy_and_changes_nothing(case_d: psycopg.Connection) -> None:
    declare(case_d, "line", "refuse")
    before, log = snapshot(case_d, CASE_D_TABLES), merge_log_counts(case_d)
    with pytest.raises(psycopg.Error) as exc:
        merge(case_d, "product", 1, [78])
    assert exc.value.sqlstate == "23000"
    diag = exc.value.diag
    assert "1 row(s) of public.line would collide with their twins on unique index public.line_pkey" in str(
        diag.message_primary
    )
    assert '{"order_id": 10285, "product_id": 78} with {"order_id": 10285, "product_id": 1}' in str(diag.message_detail)
    assert "mlops.conflict_policies" in str(diag.message_hint)
    assert snapshot(case_d, CASE_D_TABLES) == before
    assert merge_log_counts(case_d) == log


def test_refuse_lists_the_first_rows_and_the_count(conn: psycopg.Connection) -> None:
    conn.execute(CASE_D)
    conn.execute(
        "INSERT INTO line SELECT o, p, 1, NULL FROM generate_series(1, 8) AS o CROSS JOIN (VALUES (1), (78)) AS x (p)"
    )
    declare(conn, "line", "refuse")
    with pytest.raises(psycopg.Error) as exc:
        merge(conn, "product", 1, [78])
    assert "9 row(s) of public.line" in str(exc.value.diag.message_primary)
    assert "… and 4 more" in str(exc.value.diag.message_detail)


# ---------------------------------------------------------------- declaring a policy


@pytest.mark.parametrize(
    ("action", "combine", "sqlstate", "message"),
    [
        ("combine", {"nope": "sum"}, "42703", "combine names column nope"),
        ("combine", {"product_id": "max"}, "22023", "part of a key, a unique index or a foreign key"),
        ("combine", {"note": "sum"}, "42804", "cannot sum column note of type text"),
        ("combine", {"qty": "concat"}, "42804", "cannot concat column qty of type integer"),
        ("combine", {"qty": "avg"}, "22023", "not one of sum, min, max, fill, concat"),
        ("combine", {}, "22023", "combine must be a non-empty object"),
        ("twin", {"qty": "sum"}, "22023", "combine is only for action combine"),
    ],
)
def test_policy_is_checked_when_declared(
    case_d: psycopg.Connection, action: str, combine: dict, sqlstate: str, message: str
) -> None:
    with pytest.raises(psycopg.Error) as exc:
        declare(case_d, "line", action, combine)
    assert exc.value.sqlstate == sqlstate
    assert message in str(exc.value)
    assert case_d.execute(
        "SELECT count(*) FROM mlops.conflict_policies WHERE referencing_table = 'line'::regclass"
    ).fetchone() == (0,)


def test_min_of_a_type_without_min_is_refused(conn: psycopg.Connection) -> None:
    conn.execute(
        "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p, spot point)"
    )
    with pytest.raises(psycopg.Error) as exc:
        declare(conn, "c", "combine", {"spot": "min"})
    assert exc.value.sqlstate == "42804"
    assert "type point has no min aggregate" in str(exc.value)


def test_only_a_role_with_the_table_owners_rights_declares_a_policy(dsn: str, case_d: psycopg.Connection) -> None:
    role = f"writer_{uuid.uuid4().hex[:8]}"
    case_d.execute(f"CREATE ROLE {role}")
    try:
        case_d.execute("SELECT mlops.grant_usage(%s::regrole, true)", (role,))
        case_d.execute(f"GRANT SELECT ON line TO {role}")
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.Error) as exc:
                declare(other, "line", "refuse")
            assert exc.value.sqlstate == "42501"
            assert "lacks the rights of its owner" in str(exc.value)
            # it reads the policies the owner declared
            declare(case_d, "line", "refuse")
            assert other.execute(
                "SELECT action FROM mlops.conflict_policies WHERE referencing_table = 'line'::regclass"
            ).fetchall() == [("refuse",)]
            # and can neither change nor delete them
            assert other.execute("DELETE FROM mlops.conflict_policies").rowcount == 0
        assert case_d.execute(
            "SELECT action FROM mlops.conflict_policies WHERE referencing_table = 'line'::regclass"
        ).fetchall() == [("refuse",)]
    finally:
        case_d.execute(f"DROP OWNED BY {role}; DROP ROLE {role}")


# ---------------------------------------------------------------- the platform


def test_platform_declares_combine_score_max_once(dsn: str, conn: psycopg.Connection) -> None:
    assert conn.execute("SELECT referencing_table::text, action, combine FROM mlops.conflict_policies").fetchall() == [
        ("mlops.job_recommendations", "combine", {"score": "max"})
    ]
    assert runner.adopt_platform(dsn).changes == []


def test_platform_merge_reports_colliding_recommendations_and_undo_restores_scores(
    conn: psycopg.Connection,
) -> None:
    load_incident(conn)
    conn.execute("UPDATE mlops.job_recommendations SET score = 0.95 WHERE id = 2")  # the loser's is the better one
    before = snapshot(conn)
    merge_id = conn.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])").fetchone()[
        0
    ]
    assert conflicts(conn, merge_id) == {
        "mlops.job_recommendations": {"policy": "combine", "merged": 1, "differed": 1, "columns": ["score"]}
    }
    assert conn.execute(
        "SELECT id, resume_id, job_id, score FROM mlops.job_recommendations ORDER BY id"
    ).fetchall() == [
        (1, 1, 1, pytest.approx(0.95)),
        (3, 1, 3, pytest.approx(0.4)),
        (4, 3, 3, pytest.approx(0.7)),
    ]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn) == before


def test_demo_report_counts_colliding_rows_per_table(conn: psycopg.Connection) -> None:
    load_incident(conn)
    conn.execute("SELECT mlops.merge_rows('mlops.cover_letter_samples', 1, ARRAY[2]::bigint[])")
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        assert cur.execute(runner.CONFLICT_REPORT_SQL).fetchall() == [
            {
                "referencing_table": "mlops.job_recommendations",
                "policy": "combine",
                "merged": 1,
                "differed": 1,
                "differing_columns": "score",
            }
        ]


# ---------------------------------------------------------------- every kind of unique index, planned

OWNERS = """
CREATE TABLE acc (id int PRIMARY KEY, name text);
INSERT INTO acc VALUES (1, 'a'), (2, 'b'), (3, 'c');
"""


def merge_accounts(conn: psycopg.Connection) -> int:
    return merge(conn, "acc", 1, [2])


def test_expression_index_merges_only_rows_that_really_collide(conn: psycopg.Connection) -> None:
    conn.execute(
        OWNERS + "CREATE TABLE h (id int PRIMARY KEY, owner int REFERENCES acc, handle text);"
        " CREATE UNIQUE INDEX h_owner_handle_idx ON h (owner, lower(handle));"
        " INSERT INTO h VALUES (10, 1, 'Bob'), (11, 2, 'BOB'), (12, 2, 'alice'), (13, 3, 'bob');"
    )
    before = snapshot(conn, ("public.acc", "public.h"))
    merge_id = merge_accounts(conn)
    assert conn.execute("SELECT id, owner, handle FROM h ORDER BY id").fetchall() == [
        (10, 1, "Bob"),
        (12, 1, "alice"),
        (13, 3, "bob"),
    ]
    assert conflicts(conn, merge_id)["public.h"]["merged"] == 1
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, ("public.acc", "public.h")) == before


def test_expression_index_without_collision_just_moves_rows(conn: psycopg.Connection) -> None:
    conn.execute(
        OWNERS + "CREATE TABLE h (id int PRIMARY KEY, owner int REFERENCES acc, handle text);"
        " CREATE UNIQUE INDEX h_owner_handle_idx ON h (owner, lower(handle));"
        " INSERT INTO h VALUES (10, 1, 'Bob'), (11, 2, 'Carol');"
    )
    merge_id = merge_accounts(conn)
    assert conn.execute("SELECT id, owner FROM h ORDER BY id").fetchall() == [(10, 1), (11, 1)]
    assert conflicts(conn, merge_id) is None


def test_generated_column_computed_from_the_fk_is_recomputed(conn: psycopg.Connection) -> None:
    conn.execute(
        OWNERS + "CREATE TABLE gen (id int PRIMARY KEY, owner int REFERENCES acc, slot int,"
        " k text GENERATED ALWAYS AS (owner::text || '/' || slot::text) STORED);"
        " CREATE UNIQUE INDEX gen_k_idx ON gen (k);"
        " INSERT INTO gen (id, owner, slot) VALUES (30, 1, 1), (31, 2, 1), (32, 2, 2);"
    )
    before = snapshot(conn, ("public.acc", "public.gen"))
    merge_id = merge_accounts(conn)
    assert conn.execute("SELECT id, owner, k FROM gen ORDER BY id").fetchall() == [(30, 1, "1/1"), (32, 1, "1/2")]
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert snapshot(conn, ("public.acc", "public.gen")) == before


def test_deferrable_unique_constraint_is_planned_not_hit_at_commit(conn: psycopg.Connection) -> None:
    conn.execute(
        OWNERS + "CREATE TABLE df (id int PRIMARY KEY, owner int REFERENCES acc, code int,"
        " CONSTRAINT df_owner_code_key UNIQUE (owner, code) DEFERRABLE INITIALLY DEFERRED);"
        " INSERT INTO df VALUES (40, 1, 7), (41, 2, 7), (42, 2, 8);"
    )
    merge_id = merge_accounts(conn)  # autocommit: the deferred check ran at this statement's commit
    assert conn.execute("SELECT id, owner, code FROM df ORDER BY id").fetchall() == [(40, 1, 7), (42, 1, 8)]
    assert conflicts(conn, merge_id)["public.df"]["merged"] == 1


def test_citext_key_collides_case_insensitively_with_its_own_operator(conn: psycopg.Connection) -> None:
    conn.execute("CREATE SCHEMA ext; CREATE EXTENSION citext WITH SCHEMA ext")
    conn.execute(
        OWNERS + "CREATE TABLE ct (id int PRIMARY KEY, owner int REFERENCES acc, tag ext.citext, UNIQUE (owner, tag));"
        " INSERT INTO ct VALUES (20, 1, 'Red'), (21, 2, 'RED'), (22, 2, 'blue');"
    )
    merge_id = merge_accounts(conn)
    assert conn.execute("SELECT id, owner, tag::text FROM ct ORDER BY id").fetchall() == [
        (20, 1, "Red"),
        (22, 1, "blue"),
    ]
    assert conflicts(conn, merge_id)["public.ct"] == {"policy": "twin", "merged": 1, "differed": 0, "columns": []}


def test_partial_unique_index_ignores_rows_outside_its_predicate(conn: psycopg.Connection) -> None:
    conn.execute(
        OWNERS + "CREATE TABLE pt (id int PRIMARY KEY, owner int REFERENCES acc, code int, active boolean);"
        " CREATE UNIQUE INDEX pt_owner_code_idx ON pt (owner, code) WHERE active;"
        " INSERT INTO pt VALUES (50, 1, 7, true), (51, 2, 7, true), (52, 2, 8, true), (53, 2, 8, false),"
        " (54, 1, 8, false);"
    )
    merge_id = merge_accounts(conn)
    assert conn.execute("SELECT id, owner FROM pt ORDER BY id").fetchall() == [(50, 1), (52, 1), (53, 1), (54, 1)]
    assert conflicts(conn, merge_id)["public.pt"]["merged"] == 1


def test_refuse_on_an_expression_index_names_the_index(conn: psycopg.Connection) -> None:
    conn.execute(
        OWNERS + "CREATE TABLE h (id int PRIMARY KEY, owner int REFERENCES acc, handle text);"
        " CREATE UNIQUE INDEX h_owner_handle_idx ON h (owner, lower(handle));"
        " INSERT INTO h VALUES (10, 1, 'Bob'), (11, 2, 'BOB');"
    )
    declare(conn, "h", "refuse")
    before = snapshot(conn, ("public.acc", "public.h"))
    with pytest.raises(psycopg.Error) as exc:
        merge_accounts(conn)
    assert exc.value.sqlstate == "23000"
    assert "unique index public.h_owner_handle_idx" in str(exc.value)
    assert '{"id": 11} with {"id": 10}' in str(exc.value.diag.message_detail)
    assert snapshot(conn, ("public.acc", "public.h")) == before
