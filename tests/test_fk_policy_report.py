"""mlops.fk_policy_report and the audit: the incident's Before -> After, indexes, risk words."""

import psycopg
import pytest
from psycopg.rows import dict_row

import runner

INCIDENT_FKS = ("job_recommendations_resume_id_fkey", "job_recommendations_job_id_fkey")


def report(dsn: str, schema: str | None = "mlops") -> dict[str, dict]:
    return {r["fk_name"]: r for r in runner.fk_policy_report(dsn, schema)}


def test_report_before_fix_shows_incident_no_action(platform_dsn: str) -> None:
    runner.install(platform_dsn)  # without --platform: the platform's FKs stay as the platform made them
    rows = report(platform_dsn)
    assert {name: (rows[name]["on_delete"], rows[name]["risk"]) for name in INCIDENT_FKS} == {
        name: ("NO ACTION", "blocks_delete") for name in INCIDENT_FKS
    }
    lines = runner.format_audit(list(rows.values()))
    assert "⚠️ job_recommendations_resume_id_fkey: resume_id -> mlops.cover_letter_samples (DELETE NO ACTION)" in lines


def test_report_after_fix_shows_cascade_under_original_names(platform_dsn: str) -> None:
    runner.install(platform_dsn)
    runner.adopt_platform(platform_dsn)
    rows = report(platform_dsn)
    assert {name: (rows[name]["on_delete"], rows[name]["risk"]) for name in INCIDENT_FKS} == {
        name: ("CASCADE", "cascades") for name in INCIDENT_FKS
    }
    # the package's own FKs (its merge log, a model's levels, an alert's kind) are in the schema too
    package = ("mlops.merges", "mlops.dedup_models", "mlops.alert_settings")
    platform = {n for n, r in rows.items() if r["referenced_table"] not in package}
    assert platform == {*INCIDENT_FKS, "user_interactions_job_id_fkey", "user_interactions_recommendation_id_fkey"}
    lines = runner.format_audit(list(rows.values()))
    assert "✅ job_recommendations_job_id_fkey: job_id -> mlops.job_postings (DELETE CASCADE)" in lines


def test_fix_validates_constraints(dsn: str) -> None:
    with psycopg.connect(dsn) as conn:
        not_valid = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT convalidated"
            " AND connamespace = 'mlops'::regnamespace"
        ).fetchone()[0]
    assert not_valid == 0


def test_report_flags_unindexed_fk(conn: psycopg.Connection, dsn: str) -> None:
    conn.execute("CREATE INDEX job_recommendations_job_id_idx ON mlops.job_recommendations (job_id)")
    conn.execute("CREATE INDEX user_interactions_job_id_idx ON mlops.user_interactions (job_id)")
    rows = report(dsn)
    assert rows["user_interactions_recommendation_id_fkey"]["indexed"] is False
    assert rows["job_recommendations_resume_id_fkey"]["indexed"] is True  # leading column of the unique key
    warnings = [line for line in runner.format_audit(list(rows.values())) if "unindexed" in line]
    assert warnings == [
        "⚠️ unindexed: mlops.user_interactions (recommendation_id) for user_interactions_recommendation_id_fkey: "
        "every delete or merge on mlops.job_recommendations scans mlops.user_interactions"
    ]


def test_report_index_must_lead_with_fk_columns(conn: psycopg.Connection, dsn: str) -> None:
    conn.execute(
        "CREATE TABLE mlops.notes (id int PRIMARY KEY, a int, job_id bigint REFERENCES mlops.job_postings (id),"
        " letter_id bigint, CONSTRAINT notes_letter_fkey FOREIGN KEY (letter_id)"
        " REFERENCES mlops.cover_letter_samples (id) ON DELETE SET NULL)"
    )
    conn.execute("CREATE INDEX notes_a_job_id_idx ON mlops.notes (a, job_id)")
    conn.execute("CREATE INDEX notes_letter_id_idx ON mlops.notes (letter_id) WHERE letter_id > 0")
    rows = report(dsn)
    assert rows["notes_job_id_fkey"]["indexed"] is False  # job_id is not the leading column
    assert rows["notes_letter_fkey"]["indexed"] is False  # a partial index does not serve every delete
    assert rows["notes_letter_fkey"]["risk"] == "sets_null"


def test_report_schema_filter_matches_either_end(conn: psycopg.Connection, dsn: str) -> None:
    conn.execute("CREATE SCHEMA app")
    conn.execute("CREATE TABLE app.bookmarks (id int PRIMARY KEY, job_id bigint REFERENCES mlops.job_postings (id))")
    conn.execute("CREATE TABLE app.tags (id int PRIMARY KEY)")
    conn.execute("CREATE TABLE app.post_tags (tag_id int REFERENCES app.tags (id))")
    assert "bookmarks_job_id_fkey" in report(dsn, "mlops")
    assert set(report(dsn, "app")) == {"bookmarks_job_id_fkey", "post_tags_tag_id_fkey"}
    assert set(report(dsn, None)) == set(report(dsn, "mlops")) | {"post_tags_tag_id_fkey"}


def test_report_rejects_unknown_schema(conn: psycopg.Connection) -> None:
    with pytest.raises(psycopg.errors.InvalidSchemaName) as exc:
        conn.execute("SELECT * FROM mlops.fk_policy_report('no_such_schema')")
    assert exc.value.sqlstate == "3F000"
    assert "schema no_such_schema does not exist" in str(exc.value)


def test_report_columns_are_the_contract(conn: psycopg.Connection) -> None:
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute("SELECT * FROM mlops.fk_policy_report() LIMIT 1")
        columns = [d.name for d in cur.description]
    assert columns == [
        "fk_name",
        "referencing_table",
        "referencing_columns",
        "referenced_table",
        "referenced_columns",
        "on_delete",
        "on_update",
        "indexed",
        "risk",
        "detail",  # added at the end (issue 9): the fix for an unindexed FK, and for the audit's other rows
    ]
