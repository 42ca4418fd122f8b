"""runner.py audit: the incident-style lines, and --json for machines."""

import json

import psycopg
import pytest

import runner


def test_audit_prints_one_line_per_fk(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["audit", "--dsn", dsn, "--schema", "mlops"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        # the package's own: an alert's kind must stay (alert_settings rows are the kinds check_alerts knows)
        "⚠️ alerts_kind_fkey: kind -> mlops.alert_settings (DELETE NO ACTION)",
        # the package's own: a model's levels go with it
        "✅ dedup_model_levels_model_id_fkey: model_id -> mlops.dedup_models (DELETE CASCADE)",
        "✅ job_recommendations_job_id_fkey: job_id -> mlops.job_postings (DELETE CASCADE)",
        "✅ job_recommendations_resume_id_fkey: resume_id -> mlops.cover_letter_samples (DELETE CASCADE)",
        # the package's own merge log, in the same schema
        "⚠️ merges_parent_merge_id_fkey: parent_merge_id -> mlops.merges (DELETE NO ACTION)",
        "✅ user_interactions_job_id_fkey: job_id -> mlops.job_postings (DELETE CASCADE)",
        "⚠️ user_interactions_recommendation_id_fkey: recommendation_id -> mlops.job_recommendations (DELETE NO ACTION)",
        # the platform's schema indexes none of its FK columns but resume_id (leading column of its unique key)
        "⚠️ unindexed: mlops.job_recommendations (job_id) for job_recommendations_job_id_fkey: every delete or merge"
        " on mlops.job_postings scans mlops.job_recommendations",
        "⚠️ unindexed: mlops.user_interactions (job_id) for user_interactions_job_id_fkey: every delete or merge"
        " on mlops.job_postings scans mlops.user_interactions",
        "⚠️ unindexed: mlops.user_interactions (recommendation_id) for user_interactions_recommendation_id_fkey:"
        " every delete or merge on mlops.job_recommendations scans mlops.user_interactions",
    ]


def test_audit_json(conn: psycopg.Connection, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    conn.execute("CREATE INDEX user_interactions_job_id_idx ON mlops.user_interactions (job_id)")
    assert runner.main(["audit", "--dsn", dsn, "--json"]) == 0
    rows = {r["fk_name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["job_recommendations_job_id_fkey"]["indexed"] is False
    assert rows["job_recommendations_job_id_fkey"]["referencing_columns"] == ["job_id"]
    assert rows["user_interactions_job_id_fkey"]["indexed"] is True
    assert rows["user_interactions_recommendation_id_fkey"]["risk"] == "blocks_delete"


def test_audit_unknown_schema_exit_code(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["audit", "--dsn", dsn, "--schema", "nope"]) == 1
    assert "error: schema nope does not exist" in capsys.readouterr().err


def test_demo_on_given_database_runs_the_whole_job(empty_dsn: str, capsys) -> None:
    runner.run_demo(empty_dsn, postings=150, letters=200)
    out = capsys.readouterr().out
    assert "generated platform data with" in out
    assert "✅ job_recommendations_resume_id_fkey: resume_id -> mlops.cover_letter_samples (DELETE CASCADE)" in out
    assert "dry run (nothing changes):" in out and "what was merged and why" in out
    with psycopg.connect(empty_dsn) as conn:
        merged = conn.execute("SELECT count(*) FROM mlops.cover_letter_samples WHERE merged_into IS NOT NULL")
        assert merged.fetchone()[0] > 0
        assert conn.execute("SELECT count(*) FROM mlops.dedup_runs WHERE status <> 'succeeded'").fetchone() == (0,)
