"""Least privilege: mlops.grant_usage gives a role what merges, undo, review, detection and the reports need on the
package's objects, and nothing on the user's tables; the archive shows a role only rows of tables it may read."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest
from helpers import snapshot

import runner

SHOP_TABLES = (
    "shop.customers",
    "shop.orders",
    "shop.tags",
    "shop.memberships",
    "shop.membership_events",
    "shop.products",
    "shop.reviews",
)

# customers 1 and 2 share an e-mail; merging 2 into 1 moves order 10, archives tag (2, 'vip') (no integer key),
# merges membership 21 into 20 (same club: a conflict merge, which moves event 30) and fills note from 2.
SHOP_SQL = """
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    id bigint PRIMARY KEY, email text, name text, note text, referrer_id bigint REFERENCES shop.customers (id)
);
CREATE TABLE shop.orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES shop.customers (id), item text);
CREATE TABLE shop.tags (customer_id bigint REFERENCES shop.customers (id), tag text, UNIQUE (customer_id, tag));
CREATE TABLE shop.memberships (
    id bigint PRIMARY KEY, customer_id bigint REFERENCES shop.customers (id), club text, UNIQUE (customer_id, club)
);
CREATE TABLE shop.membership_events (id bigint PRIMARY KEY, membership_id bigint REFERENCES shop.memberships (id));
CREATE TABLE shop.products (id bigint PRIMARY KEY, name text, deleted_at timestamptz, merged_into bigint);
CREATE TABLE shop.reviews (id bigint PRIMARY KEY, product_id bigint REFERENCES shop.products (id));
INSERT INTO shop.customers VALUES
    (1, 'a@x', 'A', NULL, NULL), (2, 'a@x', 'A2', 'n2', NULL), (3, 'b@x', 'B', NULL, NULL),
    (4, 'b@x', 'B2', NULL, 2), (5, 'c@x', 'C', NULL, NULL), (6, 'c@x', 'C', NULL, NULL);
INSERT INTO shop.orders VALUES (10, 2, 'x'), (11, 4, 'y'), (12, 1, 'z'), (13, 6, 'w');
INSERT INTO shop.tags VALUES (1, 'vip'), (2, 'vip'), (2, 'new');
INSERT INTO shop.memberships VALUES (20, 1, 'golf'), (21, 2, 'golf'), (22, 2, 'chess');
INSERT INTO shop.membership_events VALUES (30, 21), (31, 22);
INSERT INTO shop.products (id, name) VALUES
    (1, 'red wooden chair with arms'), (2, 'red wooden chair with arms'),
    (3, 'blue metal table round top'), (4, 'blue metal table square top'),
    (5, 'green sofa'), (6, 'green sofa bed large');
INSERT INTO shop.reviews VALUES (40, 2), (41, 4);
INSERT INTO mlops.dedup_rules (target, exact_key, fill_nulls) VALUES ('shop.customers', 't.email', true);
INSERT INTO mlops.dedup_rules (target, similar_text, threshold, review_threshold, soft_delete)
VALUES ('shop.products', 't.name', 0.95, 0.3, true);
ANALYZE;
"""

# Everything a merge and its undo touch on the user's side: the user's decision, granted by the tests themselves.
USER_GRANTS = (
    "GRANT USAGE ON SCHEMA shop TO {role}; GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA shop TO {role}"
)

# One call of every operation grant_usage is for, as a role without it would make them.
OPERATIONS = {
    "merge_rows": "SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[])",
    "merge_clusters": "SELECT mlops.merge_clusters('shop.customers', ARRAY[1]::bigint[], ARRAY[2]::bigint[])",
    "unmerge": "SELECT mlops.unmerge(1)",
    "resolve_id": "SELECT mlops.resolve_id('shop.customers', 2)",
    "find_duplicates": "SELECT * FROM mlops.find_duplicates('shop.customers')",
    "merge_duplicates": "CALL mlops.merge_duplicates('shop.customers')",
    "review_candidate": "SELECT mlops.review_candidate(1, 'distinct')",
    "dedup_stats": "SELECT * FROM mlops.dedup_stats",
    "data_quality": "SELECT * FROM mlops.data_quality",
    "fk_policy_report": "SELECT * FROM mlops.fk_policy_report('shop')",
    "referencing_fks": "SELECT * FROM mlops.referencing_fks('shop.customers')",
}

# The package objects' whole ACLs (schemas, tables, views, columns, routines): equal snapshots, equal privileges.
PACKAGE_ACLS_SQL = """
SELECT 'schema ' || n.nspname, n.nspacl::text FROM pg_namespace n WHERE n.nspname IN ('mlops', 'mlops_rules')
UNION ALL
SELECT 'relation ' || c.oid::regclass, c.relacl::text FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace
UNION ALL
SELECT 'column ' || a.attrelid::regclass || '.' || a.attname, a.attacl::text
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'mlops'::regnamespace AND a.attacl IS NOT NULL
UNION ALL
SELECT 'routine ' || p.oid::regprocedure, p.proacl::text FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace
ORDER BY 1
"""

# What a role holds itself on objects of the package's schemas (not through PUBLIC).
ROLE_PRIVILEGES_SQL = """
SELECT 'schema ' || n.nspname, a.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) a
WHERE n.nspname IN ('mlops', 'mlops_rules') AND a.grantee = %(role)s::regrole
UNION ALL
SELECT 'relation ' || c.oid::regclass, a.privilege_type FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'mlops'::regnamespace AND a.grantee = %(role)s::regrole
UNION ALL
SELECT 'column ' || t.attrelid::regclass || '.' || t.attname, a.privilege_type
FROM pg_attribute t JOIN pg_class c ON c.oid = t.attrelid, aclexplode(t.attacl) a
WHERE c.relnamespace = 'mlops'::regnamespace AND a.grantee = %(role)s::regrole
UNION ALL
SELECT 'routine ' || p.oid::regprocedure, a.privilege_type FROM pg_proc p, aclexplode(p.proacl) a
WHERE p.pronamespace = 'mlops'::regnamespace AND a.grantee = %(role)s::regrole
ORDER BY 1, 2
"""


@pytest.fixture
def shop(conn: psycopg.Connection) -> psycopg.Connection:
    """The test database (as the superuser who installed the package) with schema shop and its two rules."""
    conn.execute(SHOP_SQL)
    return conn


@pytest.fixture
def make_role(dsn: str) -> Iterator[Callable[[], str]]:
    """Creates LOGIN roles with unique names (roles are cluster-wide); drops them and what they own afterwards."""
    created: list[str] = []

    def create() -> str:
        role = f"dedup_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f"CREATE ROLE {role} LOGIN")
        created.append(role)
        return role

    yield create
    with psycopg.connect(dsn, autocommit=True) as admin:
        for role in created:
            admin.execute(f"DROP OWNED BY {role}")
            admin.execute(f"DROP ROLE {role}")


@pytest.fixture
def operator(shop: psycopg.Connection, make_role: Callable[[], str]) -> str:
    """A role with mlops.grant_usage and every right on the shop's tables."""
    role = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (role,))
    shop.execute(USER_GRANTS.format(role=role))
    return role


def connect_as(dsn: str, role: str) -> psycopg.Connection:
    return psycopg.connect(dsn, user=role, autocommit=True)


def merge_log(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT merge_id, parent_merge_id, target::text, survivor_id, loser_ids, filled, merged_by, undone_by"
        " FROM mlops.merges ORDER BY merge_id"
    ).fetchall()


def log_counts(conn: psycopg.Connection) -> tuple[int, int, int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM mlops.merges), (SELECT count(*) FROM mlops.merge_archive),"
        " (SELECT count(*) FROM mlops.merge_moves), (SELECT count(*) FROM mlops.dedup_runs),"
        " (SELECT count(*) FROM mlops.duplicate_candidates)"
    ).fetchone()


# ---------------------------------------------------------------- a granted role runs everything


def test_granted_role_merges_and_the_merge_is_archived_and_logged(
    dsn: str, shop: psycopg.Connection, operator: str
) -> None:
    with connect_as(dsn, operator) as role_conn:
        merge_id = role_conn.execute(
            "SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
        ).fetchone()[0]

    assert merge_log(shop) == [
        (merge_id, None, "shop.customers", 1, [2], {"note": "n2"}, operator, None),
        (merge_id + 1, merge_id, "shop.memberships", 20, [21], None, operator, None),
    ]
    assert shop.execute("SELECT id, note FROM shop.customers WHERE id IN (1, 2)").fetchall() == [(1, "n2")]
    assert shop.execute("SELECT customer_id FROM shop.orders WHERE id = 10").fetchone() == (1,)
    assert shop.execute("SELECT membership_id FROM shop.membership_events WHERE id = 30").fetchone() == (20,)
    archived = shop.execute(
        "SELECT target::text, row_key, row_data ->> 'tag' FROM mlops.merge_archive ORDER BY target::text, archive_id"
    ).fetchall()
    assert archived == [("shop.customers", "2", None), ("shop.memberships", "21", None), ("shop.tags", None, "vip")]


def test_granted_role_undoes_a_merge_completely(dsn: str, shop: psycopg.Connection, operator: str) -> None:
    before = snapshot(shop, SHOP_TABLES)
    with connect_as(dsn, operator) as role_conn:
        first = role_conn.execute(
            "SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
        ).fetchone()[0]
        # customer 4's referrer was moved to 1; merging 4 away archives it with that value, which undo corrects
        role_conn.execute("SELECT mlops.merge_rows('shop.customers', 3, ARRAY[4]::bigint[])")
        role_conn.execute("SELECT mlops.unmerge(%s)", (first,))
        role_conn.execute("SELECT mlops.unmerge(%s)", (first + 2,))

    assert snapshot(shop, SHOP_TABLES) == before
    assert shop.execute("SELECT count(*) FROM mlops.merges WHERE undone_by = %s", (operator,)).fetchone() == (3,)


def test_granted_role_runs_merge_duplicates(dsn: str, shop: psycopg.Connection, operator: str) -> None:
    with connect_as(dsn, operator) as role_conn:
        role_conn.execute("CALL mlops.merge_duplicates('shop.customers')")
        role_conn.execute("CALL mlops.merge_duplicates('shop.products')")

    runs = shop.execute("SELECT target::text, status, rows_merged FROM mlops.dedup_runs ORDER BY run_id").fetchall()
    assert runs == [("shop.customers", "succeeded", 3), ("shop.products", "succeeded", 1)]
    assert shop.execute("SELECT array_agg(email ORDER BY email) FROM shop.customers").fetchone() == (
        ["a@x", "b@x", "c@x"],
    )
    assert shop.execute("SELECT merged_into FROM shop.products WHERE id = 2").fetchone() == (1,)
    assert shop.execute("SELECT count(*) FROM mlops.duplicate_candidates WHERE status = 'pending'").fetchone()[0] >= 1
    assert shop.execute("SELECT DISTINCT merged_by FROM mlops.merges").fetchall() == [(operator,)]


def test_granted_role_reviews_candidates(dsn: str, shop: psycopg.Connection, operator: str) -> None:
    shop.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score)"
        " VALUES ('shop.products', '3', '4', 0.7), ('shop.products', '5', '6', 0.5)"
    )
    with connect_as(dsn, operator) as role_conn:
        merge_id = role_conn.execute("SELECT mlops.review_candidate(1, 'merge')").fetchone()[0]
        assert role_conn.execute("SELECT mlops.review_candidate(2, 'distinct')").fetchone() == (None,)

    assert shop.execute("SELECT candidate_id, status FROM mlops.duplicate_candidates ORDER BY 1").fetchall() == [
        (1, "merged"),
        (2, "distinct"),
    ]
    assert shop.execute(
        "SELECT reason, soft_deleted, merged_by FROM mlops.merges WHERE merge_id = %s", (merge_id,)
    ).fetchone() == ("review", True, operator)
    assert shop.execute("SELECT count(*) FROM shop.products WHERE merged_into IS NOT NULL").fetchone() == (1,)


def test_granted_role_reads_detection_and_reports(dsn: str, shop: psycopg.Connection, operator: str) -> None:
    # data_quality reads every rule's table, the platform's too: reading them is the user's grant
    shop.execute(
        f"GRANT SELECT ON mlops.job_postings, mlops.cover_letter_samples, mlops.job_recommendations,"
        f" mlops.user_interactions TO {operator}"
    )
    shop.execute("SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[])")
    expected_duplicates = shop.execute("SELECT * FROM mlops.find_duplicates('shop.customers') ORDER BY 1, 3").fetchall()
    expected = {
        name: shop.execute(sql).fetchall()
        for name, sql in (
            ("stats", "SELECT target::text, rows_merged FROM mlops.dedup_stats ORDER BY 1"),
            ("quality", "SELECT * FROM mlops.data_quality ORDER BY 1"),
            ("policy", "SELECT * FROM mlops.fk_policy_report('shop') ORDER BY 1"),
            ("fks", "SELECT * FROM mlops.referencing_fks('shop.customers') ORDER BY 1"),
        )
    }
    with connect_as(dsn, operator) as role_conn:
        assert role_conn.execute("SELECT mlops.resolve_id('shop.customers', 2)").fetchone() == (1,)
        duplicates = role_conn.execute("SELECT * FROM mlops.find_duplicates('shop.customers') ORDER BY 1, 3").fetchall()
        seen = {
            "stats": role_conn.execute("SELECT target::text, rows_merged FROM mlops.dedup_stats ORDER BY 1").fetchall(),
            "quality": role_conn.execute("SELECT * FROM mlops.data_quality ORDER BY 1").fetchall(),
            "policy": role_conn.execute("SELECT * FROM mlops.fk_policy_report('shop') ORDER BY 1").fetchall(),
            "fks": role_conn.execute("SELECT * FROM mlops.referencing_fks('shop.customers') ORDER BY 1").fetchall(),
        }
    assert len(duplicates) == 2
    assert duplicates == expected_duplicates
    assert seen == expected
    assert len(seen["fks"]) == 4 and len(seen["quality"]) == 4


def test_rule_writer_writes_rules_and_a_merger_cannot(dsn: str, shop: psycopg.Connection, make_role) -> None:
    writer, merger = make_role(), make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s, p_rule_writer => true)", (writer,))
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (merger,))
    for role in (writer, merger):
        shop.execute(USER_GRANTS.format(role=role))

    with connect_as(dsn, writer) as role_conn:
        role_conn.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('shop.orders', 't.item')")
        role_conn.execute("UPDATE mlops.dedup_rules SET threshold = 0.9 WHERE target = 'shop.orders'::regclass")
        # a rule of another owner (here the superuser's) is not the writer's to delete: row-level security
        assert role_conn.execute("DELETE FROM mlops.dedup_rules WHERE target = 'shop.products'::regclass").rowcount == 0
    with connect_as(dsn, merger) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        role_conn.execute("INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('shop.tags', 't.tag')")

    assert "permission denied for table dedup_rules" in str(exc.value)
    rules = shop.execute(
        "SELECT target::text, threshold FROM mlops.dedup_rules WHERE target::text LIKE 'shop.%' ORDER BY 1"
    ).fetchall()
    assert rules == [
        ("shop.customers", pytest.approx(0.8)),
        ("shop.orders", pytest.approx(0.9)),
        ("shop.products", pytest.approx(0.95)),
    ]
    assert shop.execute(
        "SELECT has_schema_privilege(%s, 'mlops_rules', 'CREATE'), has_schema_privilege(%s, 'mlops_rules', 'CREATE')",
        (writer, merger),
    ).fetchone() == (True, False)


# ---------------------------------------------------------------- what is granted, exactly


def test_grant_usage_returns_and_grants_exactly_its_list(shop: psycopg.Connection, make_role) -> None:
    role = make_role()
    returned = shop.execute("SELECT * FROM mlops.grant_usage(%s)", (role,)).fetchall()

    held = shop.execute(ROLE_PRIVILEGES_SQL, {"role": role}).fetchall()
    expected = set()
    for kind, name, privilege in returned:
        word, _, columns = privilege.partition(" ")
        if kind == "schema":
            expected.add((f"schema {name}", word))
        elif kind in ("table", "view") and columns:
            expected.update((f"column {name}.{c}", word) for c in columns.strip("()").split(", "))
        elif kind in ("table", "view"):
            expected.add((f"relation {name}", word))
        else:
            expected.add((f"routine {name}", word))
    assert set(held) == expected
    assert len(held) == len(expected)


def test_grant_usage_gives_nothing_on_the_ledger_the_installer_or_the_users_tables(
    shop: psycopg.Connection, make_role
) -> None:
    role = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s, p_rule_writer => true)", (role,))

    held = shop.execute(ROLE_PRIVILEGES_SQL, {"role": role}).fetchall()
    assert [h for h in held if "schema_migrations" in h[0]] == []
    assert [h for h in held if re.search(r"grant_usage|revoke_usage|alter_fk_on_delete|add_soft_delete", h[0])] == []
    assert [
        h for h in held if re.search(r"job_postings|cover_letter|job_recommendations|user_interactions", h[0])
    ] == []
    assert ("schema mlops", "CREATE") not in held
    assert shop.execute(
        "SELECT count(*) FROM information_schema.role_table_grants WHERE grantee = %s AND table_schema = 'shop'",
        (role,),
    ).fetchone() == (0,)


def reached_routines(conn: psycopg.Connection, start: set[str]) -> set[str]:
    """The package's routines a set of routines calls, transitively, read from their source (mlops.name( ).
    grant_usage, revoke_usage and add_soft_delete_columns are named in hints only, never called."""
    bodies = dict(
        conn.execute(
            "SELECT p.proname, p.prosrc FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace"
            " AND p.proname NOT IN ('grant_usage', 'revoke_usage', 'add_soft_delete_columns')"
            " AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
        ).fetchall()
    )
    reached, todo = set(), [name for name in start if name in bodies]
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(n for n in bodies if re.search(rf"mlops\.{n}\s*\(", bodies[name]))
    return reached


def granted_routines(conn: psycopg.Connection, rule_writer: bool) -> set[str]:
    rows = conn.execute(
        "SELECT object_name FROM mlops.usage_privileges(%s) WHERE privilege = 'EXECUTE'", (rule_writer,)
    ).fetchall()
    return {name.split("(")[0].removeprefix("mlops.") for (name,) in rows}


def test_granted_routines_are_the_ones_the_operations_reach(shop: psycopg.Connection) -> None:
    # A helper added on one of these paths must be added to mlops.usage_privileges, and one no path calls removed.
    entry = {
        "merge_rows", "merge_clusters", "unmerge", "resolve_id", "find_duplicates", "merge_duplicates",
        "review_candidate", "data_quality_report", "fk_policy_report", "referencing_fks", "normalize_url",
        "merge_failures_clear", "match_evidence", "normalize_text", "text_similarity", "train_rule", "explain_match",
        "unmerge_run", "resolve_alert",
    }  # fmt: skip
    assert granted_routines(shop, False) == reached_routines(shop, entry)


def test_rule_writer_may_execute_what_the_rule_triggers_call(shop: psycopg.Connection) -> None:
    # The rules' triggers run as the writer: what they call needs EXECUTE (they themselves fire without it).
    triggers = {
        name
        for (name,) in shop.execute(
            "SELECT DISTINCT p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgrelid = 'mlops.dedup_rules'::regclass AND NOT t.tgisinternal"
        ).fetchall()
    }
    needed = reached_routines(shop, triggers) - triggers
    assert triggers and needed - granted_routines(shop, True) == set()


def test_grant_usage_twice_leaves_the_same_privileges(shop: psycopg.Connection, make_role) -> None:
    role = make_role()
    first = shop.execute("SELECT * FROM mlops.grant_usage(%s, true)", (role,)).fetchall()
    acls = shop.execute(PACKAGE_ACLS_SQL).fetchall()

    second = shop.execute("SELECT * FROM mlops.grant_usage(%s, true)", (role,)).fetchall()

    assert shop.execute(PACKAGE_ACLS_SQL).fetchall() == acls
    assert second == first


def test_grant_usage_reports_each_user_table_the_role_lacks_rights_on(shop: psycopg.Connection, make_role) -> None:
    role = make_role()
    shop.execute(f"GRANT SELECT, UPDATE ON shop.orders TO {role}; GRANT SELECT ON shop.reviews TO {role}")
    notices: list[str] = []
    shop.add_notice_handler(lambda d: notices.append(d.message_primary or ""))

    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (role,))

    shop_notices = {n for n in notices if " on shop." in n}
    assert shop_notices == {
        f"role {role} lacks DELETE, INSERT, SELECT, UPDATE on shop.customers (references shop.customers, rule target):"
        " merges through it fail with permission denied",
        f"role {role} lacks DELETE, INSERT, SELECT, UPDATE on shop.products (rule target):"
        " merges through it fail with permission denied",
        f"role {role} lacks DELETE, INSERT, SELECT, UPDATE on shop.tags (references shop.customers):"
        " merges through it fail with permission denied",
        f"role {role} lacks DELETE, INSERT, SELECT, UPDATE on shop.memberships (references shop.customers):"
        " merges through it fail with permission denied",
        f"role {role} lacks UPDATE on shop.reviews (references shop.products):"
        " merges through it fail with permission denied",
    }
    # one NOTICE per table, the platform's rule targets included; and nothing granted on them
    tables = [re.search(r" on (\S+) \(", n).group(1) for n in notices if " lacks " in n and " on schema " not in n]
    assert len(tables) == len(set(tables))
    # table privileges need USAGE on their schema too: named once per schema
    assert [n for n in notices if " on schema " in n] == [
        f"role {role} lacks USAGE on schema shop: merges through its tables fail with permission denied"
    ]
    assert "mlops.job_postings" in tables
    assert shop.execute("SELECT has_table_privilege(%s, 'shop.customers', 'SELECT')", (role,)).fetchone() == (False,)


# ---------------------------------------------------------------- without grant_usage, nothing


@pytest.mark.parametrize("operation", OPERATIONS)
def test_role_without_grant_usage_is_refused(dsn: str, shop: psycopg.Connection, make_role, operation: str) -> None:
    shop.execute("SELECT mlops.merge_rows('shop.customers', 3, ARRAY[4]::bigint[])")
    shop.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score)"
        " VALUES ('shop.products', '3', '4', 0.5)"
    )
    role = make_role()
    shop.execute(USER_GRANTS.format(role=role))
    shop.execute(f"GRANT USAGE ON SCHEMA mlops TO {role}")
    before = snapshot(shop, SHOP_TABLES), log_counts(shop)

    with connect_as(dsn, role) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        role_conn.execute(OPERATIONS[operation])

    assert exc.value.sqlstate == "42501"
    assert "permission denied for" in str(exc.value)
    assert (snapshot(shop, SHOP_TABLES), log_counts(shop)) == before


@pytest.mark.parametrize("operation", OPERATIONS)
def test_revoke_usage_takes_it_all_away(dsn: str, shop: psycopg.Connection, operator: str, operation: str) -> None:
    shop.execute("SELECT mlops.merge_rows('shop.customers', 3, ARRAY[4]::bigint[])")
    shop.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score)"
        " VALUES ('shop.products', '3', '4', 0.5)"
    )
    held = shop.execute(ROLE_PRIVILEGES_SQL, {"role": operator}).fetchall()

    revoked = shop.execute("SELECT * FROM mlops.revoke_usage(%s)", (operator,)).fetchall()

    assert held and shop.execute(ROLE_PRIVILEGES_SQL, {"role": operator}).fetchall() == []
    assert {(kind, name) for kind, name, _ in revoked} >= {("table", "mlops.merges"), ("schema", "mlops")}
    assert shop.execute("SELECT * FROM mlops.revoke_usage(%s)", (operator,)).fetchall() == []
    # the shop's tables stay as the user granted them
    assert shop.execute("SELECT has_table_privilege(%s, 'shop.customers', 'DELETE')", (operator,)).fetchone() == (True,)
    before = snapshot(shop, SHOP_TABLES), log_counts(shop)
    with connect_as(dsn, operator) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        role_conn.execute(OPERATIONS[operation])
    assert (snapshot(shop, SHOP_TABLES), log_counts(shop)) == before


def test_revoke_usage_keeps_schema_usage_for_a_role_with_rights_on_tables_there(
    shop: psycopg.Connection, operator: str
) -> None:
    shop.execute(f"GRANT SELECT ON mlops.job_postings TO {operator}")

    shop.execute("SELECT count(*) FROM mlops.revoke_usage(%s)", (operator,))

    assert shop.execute(ROLE_PRIVILEGES_SQL, {"role": operator}).fetchall() == [
        ("relation mlops.job_postings", "SELECT"),
        ("schema mlops", "USAGE"),
    ]


# ---------------------------------------------------------------- the archive and undo under row-level security


def test_archive_shows_a_role_only_rows_of_tables_it_may_read(dsn: str, shop: psycopg.Connection, make_role) -> None:
    shop.execute("SELECT mlops.merge_rows('shop.customers', 3, ARRAY[4]::bigint[])")
    shop.execute("SELECT mlops.merge_rows('shop.products', 1, ARRAY[2]::bigint[])")
    role = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (role,))
    shop.execute(f"GRANT USAGE ON SCHEMA shop TO {role}; GRANT SELECT ON shop.customers TO {role}")

    with connect_as(dsn, role) as role_conn:
        seen = role_conn.execute(
            "SELECT target::text, row_key, row_data FROM mlops.merge_archive ORDER BY archive_id"
        ).fetchall()

    assert shop.execute("SELECT target::text, row_key FROM mlops.merge_archive ORDER BY archive_id").fetchall() == [
        ("shop.customers", "4"),
        ("shop.products", "2"),
    ]
    assert [(t, r) for t, r, _ in seen] == [("shop.customers", "4")]
    assert seen[0][2]["email"] == "b@x"


@pytest.mark.parametrize(
    ("table", "privilege", "why"),
    [
        ("shop.customers", "INSERT", "the merged table: losers are re-inserted"),
        ("shop.orders", "UPDATE", "references it moved"),
        ("shop.tags", "SELECT", "colliding rows archived from a table without an integer key"),
        ("shop.tags", "INSERT", "the archived tag goes back"),
        ("shop.memberships", "SELECT", "the table of a conflict merge inside it"),
        ("shop.membership_events", "UPDATE", "references the conflict merge moved"),
    ],
)
def test_unmerge_refuses_a_role_that_cannot_restore_every_table_of_the_merge(
    dsn: str, shop: psycopg.Connection, operator: str, table: str, privilege: str, why: str
) -> None:
    merge_id = shop.execute("SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[])").fetchone()[0]
    shop.execute(f"REVOKE {privilege} ON {table} FROM {operator}")
    before = snapshot(shop, SHOP_TABLES), log_counts(shop), merge_log(shop)

    with connect_as(dsn, operator) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        role_conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))

    assert f"cannot undo merge {merge_id}: role {operator} lacks {privilege} on {table}" in str(exc.value), why
    assert (snapshot(shop, SHOP_TABLES), log_counts(shop), merge_log(shop)) == before


# ---------------------------------------------------------------- bad calls


@pytest.mark.parametrize("routine", ["grant_usage", "revoke_usage"])
def test_null_or_dropped_role_is_refused(shop: psycopg.Connection, make_role, routine: str) -> None:
    dropped = make_role()
    (oid,) = shop.execute("SELECT %s::regrole::oid", (dropped,)).fetchone()
    shop.execute(f"DROP ROLE {dropped}")
    shop.execute(f"CREATE ROLE {dropped}")  # recreated under a new OID, so the fixture can drop it
    acls = shop.execute(PACKAGE_ACLS_SQL).fetchall()

    with pytest.raises(psycopg.errors.NullValueNotAllowed) as null_exc:
        shop.execute(f"SELECT * FROM mlops.{routine}(NULL)")
    with pytest.raises(psycopg.errors.UndefinedObject) as dropped_exc:
        shop.execute(f"SELECT * FROM mlops.{routine}(%s::oid::regrole)", (oid,))
    with pytest.raises(psycopg.errors.UndefinedObject) as unknown_exc:
        shop.execute(f"SELECT * FROM mlops.{routine}('no_such_role_x')")

    assert null_exc.value.sqlstate == "22004" and "role must not be NULL" in str(null_exc.value)
    assert dropped_exc.value.sqlstate == "42704" and f"role with OID {oid} does not exist" in str(dropped_exc.value)
    assert 'role "no_such_role_x" does not exist' in str(unknown_exc.value)
    assert shop.execute(PACKAGE_ACLS_SQL).fetchall() == acls


def test_only_a_role_that_can_grant_runs_grant_usage(dsn: str, shop: psycopg.Connection, make_role) -> None:
    plain, helper, grantee = make_role(), make_role(), make_role()
    # helper may call the privilege routines and holds the package's privileges, but without the grant option
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (helper,))
    shop.execute(
        f"GRANT EXECUTE ON FUNCTION mlops.grant_usage(regrole, boolean), mlops.revoke_usage(regrole),"
        f" mlops.assert_role(regrole), mlops.assert_can_grant_usage(boolean), mlops.usage_privileges(boolean)"
        f" TO {helper}"
    )
    acls = shop.execute(PACKAGE_ACLS_SQL).fetchall()

    with connect_as(dsn, plain) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as plain_exc:
        role_conn.execute("SELECT * FROM mlops.grant_usage(%s)", (grantee,))
    with connect_as(dsn, helper) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as helper_exc:
        role_conn.execute("SELECT * FROM mlops.grant_usage(%s)", (grantee,))
    with connect_as(dsn, helper) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        role_conn.execute("SELECT * FROM mlops.revoke_usage(%s)", (helper,))

    assert "permission denied for schema mlops" in str(plain_exc.value)
    assert f"role {helper} cannot grant or revoke the privileges of the mlops-dedup package" in str(helper_exc.value)
    assert shop.execute(PACKAGE_ACLS_SQL).fetchall() == acls
    assert shop.execute(ROLE_PRIVILEGES_SQL, {"role": grantee}).fetchall() == []


# ---------------------------------------------------------------- a forged log is never acted on with more rights


def test_undo_refuses_a_merge_a_less_privileged_role_recorded(
    dsn: str, shop: psycopg.Connection, make_role: Callable[[], str]
) -> None:
    """An operator may write the log (the routines run as it) but not choose merged_by: a loser it invents for a
    table it may only read is never re-inserted there by a superuser's undo."""
    op = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (op,))
    shop.execute(f"GRANT USAGE ON SCHEMA shop TO {op}; GRANT SELECT ON shop.products TO {op}")
    with connect_as(dsn, op) as role_conn:
        (merge_id,) = role_conn.execute(
            "INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, reason, soft_deleted)"
            " VALUES ('shop.products', 'bigint', '1', '{99}', 'forged', false) RETURNING merge_id"
        ).fetchone()
        role_conn.execute(
            "INSERT INTO mlops.merge_archive (merge_id, target, row_key, row_data)"
            """ VALUES (%s, 'shop.products', '99', '{"id": 99, "name": "forged"}')""",
            (merge_id,),
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            role_conn.execute(
                "INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, reason, soft_deleted, merged_by)"
                " VALUES ('shop.products', 'bigint', '1', '{98}', 'forged', false, 'postgres')"
            )
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        shop.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert f"cannot undo merge {merge_id} as postgres: its log was written by {op} without the rights of postgres" in (
        str(exc.value)
    )
    assert shop.execute("SELECT count(*) FROM shop.products WHERE id = 99").fetchone() == (0,)


def test_undo_refuses_a_move_a_less_privileged_role_added_to_a_real_merge(
    dsn: str, shop: psycopg.Connection, make_role: Callable[[], str]
) -> None:
    (merge_id,) = shop.execute("SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[])").fetchone()
    before = shop.execute("SELECT id, customer_id FROM shop.orders ORDER BY id").fetchall()
    op = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (op,))
    shop.execute(f"GRANT USAGE ON SCHEMA shop TO {op}")  # and nothing on the shop's tables
    with connect_as(dsn, op) as role_conn:
        role_conn.execute(
            "INSERT INTO mlops.merge_moves (merge_id, referencing_table, fk_name, row_key, loser_key)"
            """ VALUES (%s, 'shop.orders', 'orders_customer_id_fkey', '{"id": 12}', '2')""",
            (merge_id,),
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            role_conn.execute(
                "INSERT INTO mlops.merge_moves (merge_id, referencing_table, fk_name, row_key, loser_key, recorded_by)"
                """ VALUES (%s, 'shop.orders', 'orders_customer_id_fkey', '{"id": 13}', '2', 'postgres')""",
                (merge_id,),
            )
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        shop.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert f"its log was written by {op} without the rights of postgres" in str(exc.value)
    assert shop.execute("SELECT id, customer_id FROM shop.orders ORDER BY id").fetchall() == before


def test_merge_refuses_when_a_table_it_would_write_belongs_to_a_less_privileged_role(
    dsn: str, shop: psycopg.Connection, make_role: Callable[[], str]
) -> None:
    """A role allowed to reference shop.customers hangs its own table (with a trigger of its own) under it: a
    superuser's merge of customers would re-point that table's rows and run the trigger as the superuser."""
    rw = make_role()
    shop.execute(f"CREATE SCHEMA {rw} AUTHORIZATION {rw}; GRANT USAGE ON SCHEMA shop TO {rw};")
    shop.execute(f"GRANT SELECT, REFERENCES ON shop.customers TO {rw}")
    with connect_as(dsn, rw) as role_conn:
        role_conn.execute(
            f"""
            CREATE TABLE {rw}.bookmarks (id serial PRIMARY KEY, customer_id bigint REFERENCES shop.customers);
            INSERT INTO {rw}.bookmarks (customer_id) VALUES (2);
            CREATE FUNCTION {rw}.grab() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
                    EXECUTE 'ALTER ROLE {rw} SUPERUSER';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER grab BEFORE UPDATE ON {rw}.bookmarks FOR EACH ROW EXECUTE FUNCTION {rw}.grab();
            """
        )
    before = shop.execute("SELECT count(*) FROM shop.customers").fetchone()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # the run is recorded failed, then the CALL raises
        shop.execute("CALL mlops.merge_duplicates('shop.customers')")
    status, error = shop.execute("SELECT status, error FROM mlops.dedup_runs ORDER BY run_id DESC LIMIT 1").fetchone()
    assert status == "failed"
    assert f"the merge would run code of roles without the rights of postgres: table {rw}.bookmarks (owner {rw})" in (
        error
    )
    assert f"trigger grab on {rw}.bookmarks (function {rw}.grab(), owner {rw})" in error
    assert shop.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (rw,)).fetchone() == (False,)
    assert shop.execute("SELECT count(*) FROM shop.customers").fetchone() == before


def test_undo_refuses_a_merge_whose_log_a_less_privileged_role_edited(
    dsn: str, shop: psycopg.Connection, make_role: Callable[[], str]
) -> None:
    """An operator may update what undo reads (filled, archived rows: the routines run as it); editing a
    superuser's merge makes it that merge's recorded writer, so a superuser's undo refuses instead of writing back
    the operator's values. And an undone merge cannot be made live again."""
    (merge_id,) = shop.execute(
        "SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[], p_fill_nulls => true)"
    ).fetchone()
    before = shop.execute("SELECT * FROM shop.customers ORDER BY id").fetchall()
    op = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (op,))
    shop.execute(f"GRANT USAGE ON SCHEMA shop TO {op}; GRANT SELECT ON shop.customers TO {op}")
    with connect_as(dsn, op) as role_conn:
        role_conn.execute(
            """UPDATE mlops.merge_archive SET row_data = row_data || '{"name": "forged"}' WHERE merge_id = %s""",
            (merge_id,),
        )
        role_conn.execute("""UPDATE mlops.merges SET filled = '{"note": null}' WHERE merge_id = %s""", (merge_id,))
        assert role_conn.execute(
            "SELECT merged_by, (SELECT recorded_by FROM mlops.merge_archive WHERE merge_id = %s)"
            " FROM mlops.merges WHERE merge_id = %s",
            (merge_id, merge_id),
        ).fetchone() == (op, op)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        shop.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert f"its log was written by {op}" in str(exc.value)
    assert shop.execute("SELECT * FROM shop.customers ORDER BY id").fetchall() == before

    (second,) = shop.execute("SELECT mlops.merge_rows('shop.customers', 3, ARRAY[4]::bigint[])").fetchone()
    shop.execute("SELECT mlops.unmerge(%s)", (second,))
    with connect_as(dsn, op) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        role_conn.execute("UPDATE mlops.merges SET undone_at = NULL WHERE merge_id = %s", (second,))
    assert "an undone merge stays undone" in str(exc.value)


def test_a_forged_merge_steers_neither_resolve_id_nor_re_pointing_of_a_more_privileged_role(
    dsn: str, shop: psycopg.Connection, make_role: Callable[[], str]
) -> None:
    op = make_role()
    shop.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (op,))
    shop.execute(f"GRANT USAGE ON SCHEMA shop TO {op}; GRANT SELECT ON shop.products TO {op}")
    shop.execute("SELECT mlops.merge_rows('shop.products', 1, ARRAY[2]::bigint[], p_soft_delete => true)")
    with connect_as(dsn, op) as role_conn:  # op says product 2 went into 5
        role_conn.execute(
            "INSERT INTO mlops.merges (target, key_type, survivor_key, loser_keys, reason, soft_deleted)"
            " VALUES ('shop.products', 'bigint', '5', '{2}', 'forged', true)"
        )
        assert role_conn.execute("SELECT mlops.resolve_id('shop.products', 2)").fetchone() == (5,)  # its own view
    assert shop.execute("SELECT mlops.resolve_id('shop.products', 2)").fetchone() == (1,)
    shop.execute("INSERT INTO shop.reviews VALUES (42, 2)")  # the application still uses the old id
    shop.execute("CALL mlops.merge_duplicates('shop.products')")
    assert shop.execute("SELECT product_id FROM shop.reviews WHERE id = 42").fetchone() == (1,)


def test_install_gives_roles_granted_before_what_the_new_version_needs(
    dsn: str, shop: psycopg.Connection, operator: str
) -> None:
    """An upgrade adds routines and columns that an earlier grant_usage could not name: install grants them to every
    role granted before (here: as if pin_search_path and merges.fill_nulls were new), and the role merges again."""
    shop.execute(f"REVOKE EXECUTE ON FUNCTION mlops.pin_search_path(text) FROM {operator}")
    shop.execute(f"REVOKE INSERT (fill_nulls) ON mlops.merges FROM {operator}")
    with connect_as(dsn, operator) as role_conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        role_conn.execute("SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[])")
    report = runner.install(dsn)
    assert report.regranted == [operator]
    assert f"granted this version's new routines and columns to: {operator}" in report.summary()
    with connect_as(dsn, operator) as role_conn:
        role_conn.execute("SELECT mlops.merge_rows('shop.customers', 1, ARRAY[2]::bigint[])")
    assert shop.execute("SELECT count(*) FROM shop.customers WHERE id = 2").fetchone() == (0,)


def test_grant_usage_passes_over_a_rule_whose_table_was_dropped(shop: psycopg.Connection, make_role) -> None:
    shop.execute(
        "CREATE TABLE shop.gone (id bigint PRIMARY KEY, name text);"
        " INSERT INTO mlops.dedup_rules (target, exact_key) VALUES ('shop.gone', 't.name');"
        " DROP TABLE shop.gone CASCADE"
    )
    role = make_role()
    granted = shop.execute("SELECT * FROM mlops.grant_usage(%s)", (role,)).fetchall()
    assert ("table", "mlops.merges", "SELECT") in granted
