"""Shared test helpers: table snapshots and the incident's data set."""

from __future__ import annotations

import psycopg

PLATFORM_TABLES = (
    "mlops.job_postings",
    "mlops.cover_letter_samples",
    "mlops.job_recommendations",
    "mlops.user_interactions",
)


def snapshot(conn: psycopg.Connection, tables: tuple[str, ...] = PLATFORM_TABLES) -> dict[str, list]:
    """Every row of each table as JSON, in a stable order: equal snapshots mean equal contents."""
    return {
        table: conn.execute(
            f"SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]') FROM {table} AS t"
        ).fetchone()[0]
        for table in tables
    }


def merge_log_counts(conn: psycopg.Connection) -> tuple[int, int, int]:
    return conn.execute(
        "SELECT (SELECT count(*) FROM mlops.merges), (SELECT count(*) FROM mlops.merge_archive),"
        " (SELECT count(*) FROM mlops.merge_moves)"
    ).fetchone()


def load_incident(conn: psycopg.Connection) -> None:
    """Letters 1 and 2 are the same page; both are recommended for job 1 (a collision once merged)."""
    conn.execute(
        """
        INSERT INTO mlops.job_postings (id, url, title) OVERRIDING SYSTEM VALUE
        VALUES (1, 'https://jobs.example.com/1', 'ML Engineer'), (2, 'https://jobs.example.com/1/', 'ML Engineer'),
               (3, 'https://jobs.example.com/3', 'Data Engineer');
        INSERT INTO mlops.cover_letter_samples (id, url, title, company, position, content) OVERRIDING SYSTEM VALUE
        VALUES (1, 'https://l.example.com/7', 'letter', NULL, 'ML Engineer', 'I build ML pipelines.'),
               (2, 'https://l.example.com/7?utm_source=x', 'letter', 'Acme', NULL, 'I build ML pipelines.'),
               (3, 'https://l.example.com/9', 'other', 'Globex', 'DE', 'I build data platforms.');
        INSERT INTO mlops.job_recommendations (id, resume_id, job_id, score) OVERRIDING SYSTEM VALUE
        VALUES (1, 1, 1, 0.9), (2, 2, 1, 0.8), (3, 2, 3, 0.4), (4, 3, 3, 0.7);
        INSERT INTO mlops.user_interactions (id, user_id, job_id, recommendation_id, interaction_type)
        OVERRIDING SYSTEM VALUE
        VALUES (1, 100, 1, 1, 'view'), (2, 100, 1, 2, 'apply'), (3, 200, 3, 3, 'view'), (4, 200, 3, 4, 'view');
        """
    )
    for table in PLATFORM_TABLES:
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")


# The package's own objects as an upgrade or a re-install must leave them: routines and their definitions, the
# package's tables with columns, constraints, indexes, triggers, policies, comments and grants, views, types, the
# evaluators' schema, the rules and the ledger. The user's tables (the platform's) and extension members are not
# the package's and stay out; so do OIDs and the evaluators' generated names.
PACKAGE_CATALOG_SQL = """
WITH package_tables AS (
    SELECT c.oid, c.relname FROM pg_class c
    WHERE c.relnamespace = 'mlops'::regnamespace AND c.relname = ANY (mlops.package_table_names())
),
ext AS (SELECT objid FROM pg_depend WHERE deptype = 'e')
SELECT 'routine', p.oid::regprocedure::text,
       pg_get_functiondef(p.oid) || coalesce(p.proacl::text, '') || coalesce(obj_description(p.oid, 'pg_proc'), '')
FROM pg_proc p WHERE p.pronamespace = 'mlops'::regnamespace AND p.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'column', t.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod) || a.attnotnull::text || a.attidentity::text
       || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || coalesce(col_description(t.oid, a.attnum), '')
       || coalesce(a.attacl::text, '')
FROM package_tables t JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = t.oid AND d.adnum = a.attnum
UNION ALL
SELECT 'table', t.relname, c.relrowsecurity::text || c.relforcerowsecurity::text || coalesce(c.relacl::text, '')
       || coalesce(obj_description(t.oid, 'pg_class'), '')
FROM package_tables t JOIN pg_class c ON c.oid = t.oid
UNION ALL
SELECT 'constraint', conname, pg_get_constraintdef(k.oid)
FROM pg_constraint k JOIN package_tables t ON k.conrelid = t.oid
UNION ALL
SELECT 'index', i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN package_tables t ON i.indrelid = t.oid
UNION ALL
SELECT 'trigger', tg.tgname, pg_get_triggerdef(tg.oid)
FROM pg_trigger tg JOIN package_tables t ON tg.tgrelid = t.oid WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'policy', pol.polname, pol.polcmd::text || coalesce(pg_get_expr(pol.polqual, pol.polrelid), '')
       || coalesce(pg_get_expr(pol.polwithcheck, pol.polrelid), '') || pol.polroles::text
FROM pg_policy pol JOIN package_tables t ON pol.polrelid = t.oid
UNION ALL
SELECT 'view', c.relname, pg_get_viewdef(c.oid) || coalesce(c.relacl::text, '')
       || coalesce(obj_description(c.oid, 'pg_class'), '')
FROM pg_class c WHERE c.relnamespace = 'mlops'::regnamespace AND c.relkind = 'v'
    AND c.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'type', ty.typname, coalesce((
    SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
    FROM pg_attribute a WHERE a.attrelid = ty.typrelid), '') || coalesce(obj_description(ty.oid, 'pg_type'), '')
FROM pg_type ty WHERE ty.typnamespace = 'mlops'::regnamespace AND ty.typtype IN ('c', 'd', 'e')
    AND (ty.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = ty.typrelid) = 'c')
    AND ty.oid NOT IN (SELECT objid FROM ext)
UNION ALL
SELECT 'schema', n.nspname, n.nspowner::regrole::text || coalesce(n.nspacl::text, '')
       || coalesce(obj_description(n.oid, 'pg_namespace'), '')
FROM pg_namespace n WHERE n.nspname = 'mlops_rules'
UNION ALL
SELECT 'evaluator', r.target::text, p.proowner::regrole::text || p.prosecdef::text || coalesce(p.proacl::text, '')
       || regexp_replace(pg_get_functiondef(p.oid), 'mlops_rules\\.\\S+\\(', 'mlops_rules.EVALUATOR(')
FROM mlops.dedup_rules r LEFT JOIN pg_proc p ON p.oid = r.evaluator
UNION ALL
SELECT 'evaluators', 'count', count(*)::text FROM pg_proc p WHERE p.pronamespace = to_regnamespace('mlops_rules')
UNION ALL
SELECT 'rule', r.target::text, (to_jsonb(r) - 'evaluator')::text FROM mlops.dedup_rules r
UNION ALL
SELECT 'ledger', version::text, name || ' ' || sha256 FROM mlops.schema_migrations
ORDER BY 1, 2, 3
"""


def package_catalog(dsn: str) -> list[tuple[str, str, str]]:
    """The package's objects in a database (PACKAGE_CATALOG_SQL): equal lists mean equal installs."""
    with psycopg.connect(dsn) as conn:
        return conn.execute(PACKAGE_CATALOG_SQL).fetchall()
