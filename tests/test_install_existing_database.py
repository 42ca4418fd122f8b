"""install into the platform's own database and into others: the package creates and changes only its own objects,
refuses a name clash before changing anything, binds nothing planted in the caller's search_path, and finds or
places pg_trgm where a DBA expects it; install --platform adopts the platform idempotently."""

from __future__ import annotations

import io
import re
import threading

import psycopg
import pytest
from helpers import PLATFORM_TABLES, package_catalog
from psycopg.conninfo import make_conninfo

import runner

# What a user's table is, as the package must leave it: columns, constraints, indexes, triggers, comments.
USER_TABLES_SQL = """
SELECT 'column', a.attrelid::regclass::text, a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || a.attnotnull::text || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || coalesce(col_description(a.attrelid, a.attnum), '')
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = ANY (%(tables)s::regclass[]) AND a.attnum > 0 AND NOT a.attisdropped
UNION ALL
SELECT 'constraint', c.conrelid::regclass::text, c.conname || ' ' || pg_get_constraintdef(c.oid)
FROM pg_constraint c WHERE c.conrelid = ANY (%(tables)s::regclass[])
UNION ALL
SELECT 'index', i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i WHERE i.indrelid = ANY (%(tables)s::regclass[])
UNION ALL
SELECT 'trigger', t.tgrelid::regclass::text, t.tgname FROM pg_trigger t WHERE t.tgrelid = ANY (%(tables)s::regclass[])
ORDER BY 1, 2, 3
"""


def user_tables(dsn: str, tables: tuple[str, ...] = PLATFORM_TABLES) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(USER_TABLES_SQL, {"tables": list(tables)}).fetchall()


def mlops_relations(dsn: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'mlops'::regnamespace AND relkind IN ('r', 'p', 'v')"
                " ORDER BY 1"
            )
        ]


def test_install_into_platform_database_leaves_its_tables_as_they_are(platform_dsn: str) -> None:
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO mlops.cover_letter_samples (url, content) VALUES ('https://a/1', 'x')")
    before = user_tables(platform_dsn)
    report = runner.install(platform_dsn)
    assert report.applied == [m.path.name for m in runner.read_migrations(runner.SQL_DIR)]
    assert user_tables(platform_dsn) == before
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute("SELECT count(*) FROM mlops.dedup_rules").fetchone() == (0,)  # no rule without --platform
        assert conn.execute("SELECT count(*) FROM mlops.cover_letter_samples").fetchone() == (1,)


def test_install_elsewhere_creates_no_platform_table(empty_dsn: str) -> None:
    runner.install(empty_dsn)
    assert set(mlops_relations(empty_dsn)) == {"data_quality", "dedup_stats", "review_queue"} | set(
        psycopg.connect(empty_dsn).execute("SELECT mlops.package_table_names()").fetchone()[0]
    )
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CALL mlops.merge_duplicates()")  # no rule, nothing to do
        assert conn.execute("SELECT count(*) FROM mlops.dedup_runs").fetchone() == (0,)


@pytest.mark.parametrize(
    ("user_object", "named"),
    [
        ("CREATE TABLE mlops.merges (id int)", "table mlops.merges"),
        ("CREATE VIEW mlops.dedup_stats AS SELECT 1 AS x", "view mlops.dedup_stats"),
        ("CREATE TYPE mlops.dedup_rule_values AS (a int)", "type mlops.dedup_rule_values"),
        ("CREATE SCHEMA mlops_rules", "schema mlops_rules"),
        (
            "CREATE TABLE mlops.jobs (id int); CREATE INDEX merge_archive_merge_id_idx ON mlops.jobs (id)",
            "index mlops.merge_archive_merge_id_idx",
        ),
        # a primary key or unique constraint creates an index of its own name, in the tables' namespace
        (
            "CREATE TABLE mlops.jobs (id int); CREATE INDEX merges_pkey ON mlops.jobs (id)",
            "index mlops.merges_pkey",
        ),
        ("CREATE SEQUENCE mlops.dedup_rules_pkey", "sequence mlops.dedup_rules_pkey"),
        (
            "CREATE FUNCTION mlops.normalize_url(text) RETURNS text LANGUAGE sql AS 'SELECT $1'",
            "function mlops.normalize_url(text)",
        ),
        (
            "CREATE PROCEDURE mlops.merge_duplicates() LANGUAGE sql AS 'SELECT 1'",
            "procedure mlops.merge_duplicates()",
        ),
    ],
)
def test_install_refuses_a_name_clash_before_changing_anything(platform_dsn: str, user_object: str, named: str) -> None:
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS mlops")
        conn.execute(user_object)
    before = (user_tables(platform_dsn), mlops_relations(platform_dsn))
    with pytest.raises(runner.InstallClashError, match=re.escape(named)) as exc:
        runner.install(platform_dsn)
    assert "Nothing was changed" in str(exc.value)
    assert (user_tables(platform_dsn), mlops_relations(platform_dsn)) == before
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute(
            "SELECT to_regclass('mlops.schema_migrations'),"
            " (SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm')"
        ).fetchone() == (None, 0)


def test_cli_reports_a_clash_as_one_line(platform_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE mlops.dedup_rules (id int)")
    assert runner.main(["install", "--dsn", platform_dsn]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: schema mlops already holds objects under the names of the package's own: table")
    assert "Traceback" not in err


def test_install_binds_nothing_planted_in_the_callers_search_path(platform_dsn: str) -> None:
    """An attacker with CREATE on public plants operators and functions that would win name resolution for an
    install run with search_path = public, pg_catalog; the package's views and routines must bind none of them."""
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute(
            """
            CREATE FUNCTION public.planted(regclass, oid) RETURNS boolean LANGUAGE sql AS 'SELECT true';
            CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = oid, FUNCTION = public.planted);
            CREATE FUNCTION public.planted_text(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT true';
            CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_text);
            CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE sql AS 'SELECT NULL::timestamptz';
            CREATE FUNCTION public.greatest_of(bigint) RETURNS bigint LANGUAGE sql AS 'SELECT 0::bigint';
            """
        )
    attacked = make_conninfo(platform_dsn, options="-c search_path=public,pg_catalog")
    runner.install(attacked)
    runner.adopt_platform(attacked)
    with psycopg.connect(platform_dsn) as conn:
        bound = conn.execute(
            """
            SELECT DISTINCT d.classid::regclass::text, d.objid, d.refobjid
            FROM pg_depend d
            LEFT JOIN pg_rewrite rw ON d.classid = 'pg_rewrite'::regclass AND rw.oid = d.objid
            LEFT JOIN pg_class v ON v.oid = rw.ev_class
            LEFT JOIN pg_proc p ON d.classid = 'pg_proc'::regclass AND p.oid = d.objid
            -- the package's views and routines (pg_trgm's own objects in public depend on public, rightly)
            WHERE (v.relnamespace IN ('mlops'::regnamespace, 'mlops_rules'::regnamespace)
                   OR p.pronamespace IN ('mlops'::regnamespace, 'mlops_rules'::regnamespace))
              AND ((d.refclassid = 'pg_operator'::regclass AND d.refobjid IN (
                       SELECT oid FROM pg_operator WHERE oprnamespace = 'public'::regnamespace))
               OR (d.refclassid = 'pg_proc'::regclass AND d.refobjid IN (
                       SELECT oid FROM pg_proc WHERE pronamespace = 'public'::regnamespace)))
            """
        ).fetchall()
        assert bound == []
        # and the views work with the real operators: the platform's two rules are both listed
        assert conn.execute("SELECT count(*) FROM mlops.dedup_stats").fetchone() == (2,)


def test_pg_trgm_is_used_where_it_is(platform_dsn: str) -> None:
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA extensions; CREATE EXTENSION pg_trgm WITH SCHEMA extensions")
    report = runner.install(platform_dsn)
    assert report.extension == "pg_trgm is installed in schema extensions; using it there"
    runner.adopt_platform(platform_dsn)
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO mlops.cover_letter_samples (url, content) VALUES"
            " ('https://a/1', 'I have built data pipelines in Python for five years at a bank.'),"
            " ('https://b/2', 'I have built data pipelines in Python for six years at a bank.')"
        )
        found = conn.execute("SELECT reason FROM mlops.find_duplicates('mlops.cover_letter_samples')").fetchall()
        assert found == [("similar_text",)]


def test_pg_trgm_is_created_in_the_default_schema_and_install_says_so(platform_dsn: str) -> None:
    report = runner.install(platform_dsn)
    assert report.extension == "created extension pg_trgm in schema public"
    assert "created extension pg_trgm in schema public" in report.summary()


def test_pg_trgm_goes_to_extension_schema_when_given(platform_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA ext")
    assert runner.main(["install", "--dsn", platform_dsn, "--extension-schema", "ext"]) == 0
    assert "created extension pg_trgm in schema ext" in capsys.readouterr().out
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
        ).fetchone() == ("ext",)


def test_unknown_extension_schema_changes_nothing(platform_dsn: str) -> None:
    with pytest.raises(runner.RunnerError, match="--extension-schema nowhere: no such schema"):
        runner.install(platform_dsn, extension_schema="nowhere")
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute("SELECT to_regclass('mlops.schema_migrations')").fetchone() == (None,)


def test_platform_adoption_applies_the_incident_fix_and_rules(platform_dsn: str, capsys) -> None:
    assert runner.main(["install", "--dsn", platform_dsn, "--platform"]) == 0
    out = capsys.readouterr().out
    # (the package's own FKs, in the same schema, are listed too)
    before = out.split("FK audit before:\n", 1)[1]
    assert "  ⚠️ job_recommendations_job_id_fkey: job_id -> mlops.job_postings (DELETE NO ACTION)" in before
    assert "mlops.job_recommendations.job_recommendations_resume_id_fkey: ON DELETE NO ACTION -> CASCADE" in out
    assert "mlops.cover_letter_samples: added deleted_at, merged_into (soft delete)" in out
    assert "mlops.job_postings: dedup rule declared" in out
    assert "✅ job_recommendations_resume_id_fkey: resume_id -> mlops.cover_letter_samples (DELETE CASCADE)" in out
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute(
            "SELECT conname, confdeltype::text, convalidated FROM pg_constraint"
            " WHERE conrelid = 'mlops.job_recommendations'::regclass AND contype = 'f' ORDER BY 1"
        ).fetchall() == [
            ("job_recommendations_job_id_fkey", "c", True),
            ("job_recommendations_resume_id_fkey", "c", True),
        ]
        assert conn.execute(
            "SELECT target::text, soft_delete, fill_nulls FROM mlops.dedup_rules ORDER BY 1"
        ).fetchall() == [("mlops.cover_letter_samples", True, True), ("mlops.job_postings", True, True)]
        assert conn.execute(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
            " WHERE attrelid = 'mlops.job_postings'::regclass AND attname = 'merged_into'"
        ).fetchone() == ("integer",)  # the platform's serial key


def test_second_platform_adoption_changes_nothing(platform_dsn: str) -> None:
    runner.install(platform_dsn)
    runner.adopt_platform(platform_dsn)
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("UPDATE mlops.dedup_rules SET threshold = 0.9 WHERE target = 'mlops.job_postings'::regclass")
    before = (user_tables(platform_dsn), package_catalog(platform_dsn))
    report = runner.adopt_platform(platform_dsn)
    assert report.changes == []
    assert "the platform was adopted already; nothing changed" in report.summary()
    assert (user_tables(platform_dsn), package_catalog(platform_dsn)) == before  # the user's threshold is kept


def test_platform_flag_without_platform_tables_changes_nothing(empty_dsn: str, capsys) -> None:
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA mlops; CREATE TABLE mlops.job_postings (id serial PRIMARY KEY, url text)")
    assert runner.main(["install", "--dsn", empty_dsn, "--platform"]) == 1
    err = capsys.readouterr().err
    assert (
        "install --platform: the platform's tables are missing: mlops.cover_letter_samples, "
        "mlops.job_recommendations, mlops.user_interactions." in err
    )
    assert "Nothing was changed" in err
    with psycopg.connect(empty_dsn) as conn:
        assert conn.execute("SELECT to_regclass('mlops.schema_migrations')").fetchone() == (None,)


def test_platform_adoption_names_a_missing_foreign_key_before_changing_anything(platform_dsn: str) -> None:
    runner.install(platform_dsn)
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE mlops.job_recommendations RENAME CONSTRAINT job_recommendations_job_id_fkey TO jr_fk")
    before = user_tables(platform_dsn)
    with pytest.raises(runner.RunnerError) as exc:
        runner.adopt_platform(platform_dsn)
    assert (
        "mlops.job_recommendations has no foreign key named job_recommendations_job_id_fkey (its foreign keys: "
        "job_recommendations_resume_id_fkey, jr_fk)" in str(exc.value)
    )
    assert user_tables(platform_dsn) == before  # the other FK was not switched, no column added


def test_concurrent_platform_installs_adopt_once(platform_dsn: str) -> None:
    errors: list[BaseException] = []
    reports: list[runner.PlatformReport] = []

    def install_platform() -> None:
        try:
            runner.install(platform_dsn)
            reports.append(runner.adopt_platform(platform_dsn))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=install_platform) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(len(r.changes) for r in reports) == [0, 0, 7]  # 2 FKs, 2 tables' columns, 2 rules, 1 policy: once
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'mlops.job_recommendations'::regclass"
            " AND contype = 'f'"
        ).fetchone() == (2,)


def test_pg_trgm_blocked_by_a_function_of_its_name_is_a_clear_error(platform_dsn: str) -> None:
    with psycopg.connect(platform_dsn, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION public.similarity(text, text) RETURNS real LANGUAGE sql AS 'SELECT 0::real'")
    with pytest.raises(runner.RunnerError, match="pass --extension-schema with another schema") as exc:
        runner.install(platform_dsn)
    assert "Nothing was changed" in str(exc.value)
    with psycopg.connect(platform_dsn) as conn:
        assert conn.execute("SELECT to_regclass('mlops.schema_migrations')").fetchone() == (None,)


def test_cli_database_errors_carry_sqlstate_and_hint(dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert runner.main(["undo", "--dsn", dsn, "999"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == "error: merge 999 does not exist (P0002)"
    assert runner.main(["merge", "--dsn", dsn, "--target", "mlops.merges"]) == 1
    err = capsys.readouterr().err
    assert "(42704)" in err and "HINT: INSERT INTO mlops.dedup_rules" in err


def test_review_runs_no_code_planted_in_the_callers_search_path(dsn: str) -> None:
    """runner.py pins search_path on its connections: an operator planted in public is not what review binds."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            """
            CREATE TABLE public.planted_calls (who name);
            CREATE FUNCTION public.planted_eq(text, text) RETURNS boolean LANGUAGE sql
                AS 'INSERT INTO public.planted_calls VALUES (current_user) RETURNING $1 OPERATOR(pg_catalog.=) $2';
            CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.planted_eq);
            INSERT INTO mlops.cover_letter_samples (id, url, content) VALUES (1, 'https://a/1', 'one'),
                (2, 'https://a/2', 'two');
            INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score)
                VALUES ('mlops.cover_letter_samples', '1', '2', 0.7);
            """
        )
    out = io.StringIO()
    attacked = make_conninfo(dsn, options="-c search_path=public,pg_catalog")
    assert runner.review(attacked, None, answers=io.StringIO("s\n"), out=out) == {
        "merged": 0, "distinct": 0, "skipped": 1, "failed": 0
    }  # fmt: skip
    assert "https://a/1" in out.getvalue() and "https://a/2" in out.getvalue()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM public.planted_calls").fetchone() == (0,)


def test_install_names_an_overload_planted_under_a_package_routines_name(dsn: str) -> None:
    """Whoever can CREATE in schema mlops (the platform's tables live there) could add mlops.unmerge(smallint): a call
    with a small integer would run it. install re-applies the package and names such routines."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE FUNCTION mlops.unmerge(p_merge_id smallint) RETURNS void LANGUAGE sql AS 'SELECT'")
    report = runner.install(dsn)
    assert report.foreign_routines == ["mlops.unmerge(smallint) (owner postgres)"]
    assert "WARNING: mlops.unmerge(smallint) (owner postgres) is not the package's" in report.summary()
    assert runner.install(dsn).foreign_routines == report.foreign_routines  # named every time, never dropped
