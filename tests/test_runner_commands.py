"""runner.py merge / review / stats / undo: output, exit codes, piped review answers."""

import io
import json
import threading
import time

import psycopg
import pytest

import runner

LETTERS = "mlops.cover_letter_samples"


@pytest.fixture
def duplicated(conn: psycopg.Connection) -> psycopg.Connection:
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE VALUES"
        " (1, 'https://x.example.com/1', 'first letter'), (2, 'https://www.x.example.com/1/', 'first letter'),"
        " (3, 'https://x.example.com/3', 'alpha bravo charlie delta echo foxtrot golf hotel'),"
        " (4, 'https://x.example.com/4', 'alpha bravo charlie delta echo foxtrot zulu yankee')"
    )
    return conn


def test_merge_command_prints_the_batch_summary_as_json(duplicated: psycopg.Connection, dsn: str, capsys) -> None:
    assert runner.main(["merge", "--dsn", dsn, "--target", LETTERS, "--json"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    # what the platform's batch manager printed (status, errors), the totals, and the runs themselves
    (run,) = summary["runs"]
    assert (run["target"], run["status"], run["rows_merged"]) == (LETTERS, "succeeded", 1)
    (run_id,) = duplicated.execute("SELECT run_id FROM mlops.dedup_runs").fetchone()
    assert {k: summary[k] for k in ("status", "errors", "failed", "run_ids", "rows_merged", "clusters")} == {
        "status": "succeeded",
        "errors": 0,
        "failed": [],
        "run_ids": [run_id],
        "rows_merged": 1,
        "clusters": 1,
    }
    assert "run 1: mlops.cover_letter_samples" in captured.err  # progress from the NOTICEs


def test_merge_dry_run_changes_nothing(duplicated: psycopg.Connection, dsn: str, capsys) -> None:
    assert runner.main(["merge", "--dsn", dsn, "--dry-run"]) == 0
    assert "succeeded" in capsys.readouterr().out
    assert duplicated.execute("SELECT count(*) FROM mlops.merges").fetchone() == (0,)


def test_merge_command_unknown_target_exits_non_zero(dsn: str, capsys) -> None:
    assert runner.main(["merge", "--dsn", dsn, "--target", "mlops.user_interactions"]) == 1
    assert "error: no dedup rule for mlops.user_interactions" in capsys.readouterr().err


def test_review_reads_answers_from_a_pipe(duplicated: psycopg.Connection, dsn: str) -> None:
    duplicated.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES"
        " (%s, '3', '4', 0.7), (%s, '1', '3', 0.6)",
        (LETTERS, LETTERS),
    )
    out = io.StringIO()
    decided = runner.review(dsn, None, answers=io.StringIO("d\nm\n"), out=out)
    assert decided == {"merged": 1, "distinct": 1, "skipped": 0, "failed": 0}
    assert "2 pair(s) to review" in out.getvalue() and "similarity 0.70" in out.getvalue()
    statuses = duplicated.execute(
        "SELECT left_key, right_key, status FROM mlops.duplicate_candidates ORDER BY 1"
    ).fetchall()
    assert statuses == [("1", "3", "merged"), ("3", "4", "distinct")]


def test_review_stops_at_quit_and_at_end_of_input(duplicated: psycopg.Connection, dsn: str) -> None:
    duplicated.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, '3', '4', 0.7)",
        (LETTERS,),
    )
    assert runner.review(dsn, None, answers=io.StringIO(""), out=io.StringIO()) == {
        "merged": 0,
        "distinct": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert duplicated.execute("SELECT status FROM mlops.duplicate_candidates").fetchone() == ("pending",)


def test_stats_and_undo_commands(duplicated: psycopg.Connection, dsn: str, capsys) -> None:
    runner.main(["merge", "--dsn", dsn, "--target", LETTERS])
    capsys.readouterr()
    assert runner.main(["stats", "--dsn", dsn, "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {r["target"]: r["rows_merged"] for r in stats["dedup_stats"]}[LETTERS] == 1
    (merge_id,) = duplicated.execute("SELECT merge_id FROM mlops.merges").fetchone()
    assert runner.main(["undo", str(merge_id), "--dsn", dsn]) == 0
    assert f"merge {merge_id} undone" in capsys.readouterr().out
    assert duplicated.execute("SELECT merged_into FROM mlops.cover_letter_samples WHERE id = 2").fetchone() == (None,)
    assert runner.main(["undo", str(merge_id), "--dsn", dsn]) == 1
    assert f"merge {merge_id} was already undone" in capsys.readouterr().err


def test_cli_grant_and_revoke_a_role_with_a_mixed_case_name(conn: psycopg.Connection, dsn: str, capsys) -> None:
    conn.execute('CREATE ROLE "Ops Team"')
    try:
        assert runner.main(["grant", "--dsn", dsn, "Ops Team"]) == 0
        captured = capsys.readouterr()
        assert "privilege(s) on the package's objects granted to Ops Team" in captured.out
        # the user's tables are not the package's to grant: the role is told what it lacks, with the GRANT to run
        assert "HINT: GRANT" in captured.err and "mlops.cover_letter_samples" in captured.err
        assert conn.execute(
            "SELECT has_function_privilege('Ops Team', 'mlops.merge_rows(regclass, anycompatible,"
            " anycompatiblearray, text, boolean, boolean, real)', 'EXECUTE')"
        ).fetchone() == (True,)
        assert runner.main(["grant", "--dsn", dsn, "Ops Team", "--revoke"]) == 0
        assert "revoked from Ops Team" in capsys.readouterr().out
        assert conn.execute("SELECT has_schema_privilege('Ops Team', 'mlops_rules', 'USAGE')").fetchone() == (False,)
    finally:
        conn.execute('DROP OWNED BY "Ops Team"')
        conn.execute('DROP ROLE "Ops Team"')


def test_cli_grant_to_an_unknown_role_is_one_line(dsn: str, capsys) -> None:
    assert runner.main(["grant", "--dsn", dsn, "nobody_here"]) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: role "nobody_here" does not exist') and "Traceback" not in err


def test_review_shows_only_pairs_of_tables_with_a_rule_and_goes_on_after_a_pair_it_cannot_merge(
    duplicated: psycopg.Connection, dsn: str
) -> None:
    """A pair queued by hand for a table without a rule is never shown (nor merged); a pair whose rows are gone is
    reported on one line and the review goes on."""
    duplicated.execute(
        "CREATE TABLE public.things (id serial PRIMARY KEY, name text); INSERT INTO public.things (name)"
        " VALUES ('x'), ('x')"
    )
    duplicated.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES"
        " ('public.things', '1', '2', 0.9), (%s, '998', '999', 0.8), (%s, '3', '4', 0.7)",
        (LETTERS, LETTERS),
    )
    out = io.StringIO()
    decided = runner.review(dsn, None, answers=io.StringIO("m\nd\n"), out=out)
    assert decided == {"merged": 0, "distinct": 1, "skipped": 0, "failed": 1}
    assert "2 pair(s) to review" in out.getvalue()
    assert "not done: review candidate" in out.getvalue() and "(P0002)" in out.getvalue()
    assert duplicated.execute("SELECT count(*) FROM public.things").fetchone() == (2,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as exc:
        duplicated.execute(
            "SELECT mlops.review_candidate(candidate_id, 'merge') FROM mlops.duplicate_candidates"
            " WHERE target = 'public.things'::regclass"
        )
    assert "the table has no dedup rule" in str(exc.value)


def test_merge_command_prints_every_run_when_a_rule_fails_and_exits_non_zero(
    duplicated: psycopg.Connection, dsn: str, capsys
) -> None:
    """The CALL raises at its end when a rule failed; the command still prints the runs (the failed one with its
    error, the other rules' ones) and exits 1 naming the failure."""
    duplicated.execute(
        "UPDATE mlops.dedup_rules SET exact_key = '(10 / (t.id - t.id))::text' WHERE target = %s::regclass",
        (LETTERS,),
    )
    assert runner.main(["merge", "--dsn", dsn]) == 1
    captured = capsys.readouterr()
    assert "mlops.job_postings" in captured.out and "succeeded" in captured.out
    assert "mlops.cover_letter_samples" in captured.out and "failed" in captured.out
    assert "failed: division by zero" in captured.err


def test_review_asks_again_after_an_answer_it_does_not_know(duplicated: psycopg.Connection, dsn: str) -> None:
    """'maybe' starts with m but is not 'merge': it is named and the pair asked again; a merge prints its id."""
    duplicated.execute(
        "INSERT INTO mlops.duplicate_candidates (target, left_key, right_key, score) VALUES (%s, '1', '2', 0.7)",
        (LETTERS,),
    )
    out = io.StringIO()
    assert runner.review(dsn, None, answers=io.StringIO("maybe\nMerge\n"), out=out) == {
        "merged": 1, "distinct": 0, "skipped": 0, "failed": 0
    }  # fmt: skip
    assert "'maybe' is not m, d, s or q" in out.getvalue()
    assert any(line.startswith("* ") for line in out.getvalue().splitlines())  # fields that differ are marked
    (merge_id,) = duplicated.execute("SELECT max(merge_id) FROM mlops.merges").fetchone()
    assert f"merged: merge {merge_id} (undo: python runner.py undo {merge_id})" in out.getvalue()


def test_merge_returns_the_runs_of_its_own_call_not_another_sessions(duplicated: psycopg.Connection, dsn: str) -> None:
    # the letters' merge waits (a trigger on their delete) on an advisory lock this test holds; meanwhile another
    # session runs the postings' rule, so its run is recorded after the call began
    duplicated.execute(
        "CREATE FUNCTION public.hold() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN OLD; END $$;"
        " CREATE TRIGGER hold BEFORE DELETE ON mlops.cover_letter_samples FOR EACH ROW EXECUTE FUNCTION public.hold();"
        " UPDATE mlops.dedup_rules SET soft_delete = false WHERE target = 'mlops.cover_letter_samples'::regclass;"
    )
    holder = psycopg.connect(dsn)
    holder.execute("SELECT pg_advisory_xact_lock(4242)")
    result: list[list[dict]] = []
    call = threading.Thread(target=lambda: result.append(runner.merge(dsn, LETTERS)))
    call.start()
    try:
        for _ in range(600):  # until the call waits on the lock
            waiting = duplicated.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
            ).fetchone()[0]
            if waiting:
                break
            time.sleep(0.02)
        assert waiting
        runner.merge(dsn, "mlops.job_postings")
    finally:
        holder.rollback()
        holder.close()
        call.join(60)
    (runs,) = result
    all_runs = duplicated.execute("SELECT run_id, target::text FROM mlops.dedup_runs ORDER BY run_id").fetchall()
    assert [t for _, t in all_runs] == [LETTERS, "mlops.job_postings"]
    assert [(r["run_id"], r["target"]) for r in runs] == [all_runs[0]]
