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
