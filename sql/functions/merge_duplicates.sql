-- mlops.merge_duplicates: detect and merge duplicates of one table, or of every enabled rule's table, in batches
-- of clusters, committing after each batch; every run is recorded in mlops.dedup_runs. A batch that meets a lock
-- timeout or a deadlock is retried a few times, then left for the next run; the run goes on.

CREATE OR REPLACE PROCEDURE mlops.merge_duplicates(
    p_target regclass DEFAULT NULL,
    p_dry_run boolean DEFAULT FALSE,
    p_batch_size integer DEFAULT 500
)
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    v_target regclass;
    v_rule record;
    v_run_id bigint;
    v_detect record;
    v_started timestamptz;
    v_batch record;
    v_done boolean;
    v_merged bigint;
    v_refs bigint;
    v_conflicts bigint;
    v_batches bigint;
    v_error_state text;
    v_error text;
    v_moved bigint;
    v_summary jsonb;
    v_refusal text;
    -- lock waits per batch, and how often a batch is tried before it is left for the next run
    v_lock_timeout CONSTANT text := '5s';
    v_attempts CONSTANT integer := 3;
BEGIN
    -- the session temp tables, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_members (cluster_id bigint, survivor_id bigint, member_id bigint,'
        ' reason text, score real, rnk bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_review (left_id bigint, right_id bigint, score real)';
    -- A procedure that COMMITs cannot carry a SET clause: pin the search path for this transaction here.
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM mlops.assert_not_in_transaction_block(
        'mlops.merge_duplicates',
        'CALL it in autocommit mode (outside BEGIN ... COMMIT; psycopg: autocommit=True), '
        'or use mlops.merge_rows() inside your transaction.'
    );
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive number of clusters, got %', p_batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_target IS NOT NULL AND NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = p_target) THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, exact_key, similar_text) VALUES (...).';
    END IF;
    COMMIT;
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);

    FOR v_target IN
        SELECT r.target FROM mlops.dedup_rules AS r
        WHERE (p_target IS NULL AND r.enabled) OR r.target = p_target
        ORDER BY r.target::text
    LOOP
        SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = v_target;
        INSERT INTO mlops.dedup_runs (target, dry_run) VALUES (v_target, p_dry_run) RETURNING run_id INTO v_run_id;
        -- One run per table at a time: a session-level lock, since COMMIT releases transaction-level ones.
        IF NOT pg_try_advisory_lock(hashtext('mlops.merge_duplicates'), v_target::oid::integer) THEN
            UPDATE mlops.dedup_runs SET status = 'skipped', finished_at = clock_timestamp(),
                error = 'another merge_duplicates run holds this table'
            WHERE run_id = v_run_id;
            RAISE NOTICE 'run %: % is being merged by another session; skipped', v_run_id, v_target;
            COMMIT;
            PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
            CONTINUE;
        END IF;

        -- A rule's merges run only with rights its writer has (a dry run changes nothing, so it may go on).
        v_refusal := CASE WHEN p_dry_run THEN NULL ELSE mlops.dedup_rule_merge_refusal(v_target) END;
        IF v_refusal IS NOT NULL THEN
            UPDATE mlops.dedup_runs SET status = 'failed', finished_at = clock_timestamp(), error = v_refusal
            WHERE run_id = v_run_id;
            RAISE WARNING 'run %: %', v_run_id, v_refusal;
            PERFORM pg_advisory_unlock(hashtext('mlops.merge_duplicates'), v_target::oid::integer);
            COMMIT;
            PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
            CONTINUE;
        END IF;

        -- A run still marked running without the lock was interrupted (its session ended).
        UPDATE mlops.dedup_runs SET status = 'failed', finished_at = clock_timestamp(),
            error = 'interrupted: the session ended before the run finished'
        WHERE target = v_target AND status = 'running' AND run_id <> v_run_id;

        v_started := clock_timestamp();
        SELECT d.* INTO v_detect FROM mlops.dedup_detect(v_target) AS d;
        SELECT max(m.cluster_id) / p_batch_size + (max(m.cluster_id) % p_batch_size > 0)::integer INTO v_batches
        FROM pg_temp.mlops_dedup_members AS m;
        UPDATE mlops.dedup_runs
        SET detect_ms = (extract(EPOCH FROM clock_timestamp() - v_started) * 1000)::bigint,
            clusters = (SELECT count(DISTINCT m.cluster_id) FROM pg_temp.mlops_dedup_members AS m),
            candidates_queued = v_detect.review_pairs
        WHERE run_id = v_run_id;
        RAISE NOTICE 'run %: % — % live rows, % candidate pairs, % rows in % clusters to merge, % pairs for review%',
            v_run_id, v_target, v_detect.live_rows, v_detect.candidate_pairs, v_detect.members,
            (SELECT count(DISTINCT m.cluster_id) FROM pg_temp.mlops_dedup_members AS m), v_detect.review_pairs,
            CASE WHEN p_dry_run THEN ' (dry run: nothing changes)' ELSE '' END;

        IF p_dry_run THEN
            UPDATE mlops.dedup_runs SET status = 'succeeded', finished_at = clock_timestamp(),
                rows_merged = v_detect.members
            WHERE run_id = v_run_id;
        ELSE
            INSERT INTO mlops.duplicate_candidates (target, left_id, right_id, score)
            SELECT v_target, r.left_id, r.right_id, r.score FROM pg_temp.mlops_dedup_review AS r
            ON CONFLICT (target, left_id, right_id) DO NOTHING;
            v_moved := mlops.merge_repoint_stale(v_target);
            UPDATE mlops.dedup_runs SET references_moved = v_moved WHERE run_id = v_run_id;
            COMMIT;
            PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);

            v_started := clock_timestamp();
            -- A batch is p_batch_size clusters, merged in one call per kind of evidence, which the merge records.
            FOR v_batch IN
                SELECT
                    b.batch_no,
                    b.why,
                    array_agg(b.survivor_id ORDER BY b.cluster_id, b.rnk) AS survivors,
                    array_agg(b.member_id ORDER BY b.cluster_id, b.rnk) AS losers,
                    array_agg(b.score ORDER BY b.cluster_id, b.rnk) AS scores
                FROM (
                    SELECT m.*, (m.cluster_id - 1) / p_batch_size AS batch_no, w.why
                    FROM pg_temp.mlops_dedup_members AS m
                    INNER JOIN (
                        SELECT x.cluster_id, string_agg(DISTINCT x.reason, '+') AS why
                        FROM pg_temp.mlops_dedup_members AS x
                        GROUP BY x.cluster_id
                    ) AS w ON w.cluster_id = m.cluster_id
                ) AS b
                GROUP BY b.batch_no, b.why
                ORDER BY b.batch_no, b.why
            LOOP
                v_done := false;
                v_merged := 0;
                v_refs := 0;
                v_conflicts := 0;
                FOR v_attempt IN 1..v_attempts LOOP
                    BEGIN
                        PERFORM set_config('lock_timeout', v_lock_timeout, true);
                        SELECT r.merged_rows, r.moved_references, r.conflict_rows INTO v_merged, v_refs, v_conflicts
                        FROM mlops.merge_clusters(
                            v_target, v_batch.survivors, v_batch.losers,
                            format('dedup run %s: %s', v_run_id, v_batch.why),
                            v_batch.scores, NULL, v_rule.soft_delete, v_rule.fill_nulls
                        ) AS r;
                        v_done := true;
                    EXCEPTION
                        WHEN lock_not_available OR deadlock_detected THEN
                            RAISE NOTICE 'run %: batch % attempt % of %: %', v_run_id, v_batch.batch_no + 1,
                                v_attempt, v_attempts, SQLERRM;
                        WHEN OTHERS THEN
                            -- not swallowed: recorded in the run below, then raised again with its SQLSTATE
                            GET STACKED DIAGNOSTICS v_error_state = RETURNED_SQLSTATE, v_error = MESSAGE_TEXT;
                    END;
                    EXIT WHEN v_done OR v_error_state IS NOT NULL;
                END LOOP;
                UPDATE mlops.dedup_runs
                SET batches = batches + 1,
                    batches_failed = batches_failed + (NOT v_done)::integer,
                    rows_merged = rows_merged + v_merged,
                    references_moved = references_moved + v_refs,
                    conflicts_merged = conflicts_merged + v_conflicts,
                    status = CASE WHEN v_error_state IS NULL THEN status ELSE 'failed' END,
                    error = v_error,
                    finished_at = CASE WHEN v_error_state IS NULL THEN NULL ELSE clock_timestamp() END
                WHERE run_id = v_run_id;
                IF v_error_state IS NOT NULL THEN
                    PERFORM pg_advisory_unlock(hashtext('mlops.merge_duplicates'), v_target::oid::integer);
                    COMMIT;
                    RAISE EXCEPTION 'run % stopped in batch %: %', v_run_id, v_batch.batch_no + 1, v_error
                        USING ERRCODE = v_error_state,
                        DETAIL = 'Batches before it are committed; this one was rolled back whole.';
                END IF;
                RAISE NOTICE 'run %: batch % of % (%) %', v_run_id, v_batch.batch_no + 1, v_batches, v_batch.why,
                    CASE WHEN NOT v_done THEN 'left for the next run (locks)'
                        ELSE format('merged %s rows, moved %s references', v_merged, v_refs) END;
                COMMIT;
                PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
            END LOOP;
            UPDATE mlops.dedup_runs
            SET status = CASE WHEN batches_failed > 0 THEN 'partial' ELSE 'succeeded' END,
                finished_at = clock_timestamp(),
                merge_ms = (extract(EPOCH FROM clock_timestamp() - v_started) * 1000)::bigint
            WHERE run_id = v_run_id;
        END IF;

        SELECT to_jsonb(r) INTO v_summary FROM mlops.dedup_runs AS r WHERE r.run_id = v_run_id;
        PERFORM pg_notify('mlops_dedup', v_summary::text);
        PERFORM pg_advisory_unlock(hashtext('mlops.merge_duplicates'), v_target::oid::integer);
        COMMIT;
        PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    END LOOP;
END;
$$;

COMMENT ON PROCEDURE mlops.merge_duplicates (regclass, boolean, integer) IS
'Detects and merges duplicates of one table (or every enabled rule when NULL) in batches of clusters, committing '
'after each; queues review-band pairs; re-points references to soft-deleted merged rows; records each run in '
'mlops.dedup_runs and notifies channel mlops_dedup. dry_run records what would happen and changes nothing else. '
'A rule whose writer, or a table the merge may write (or its triggers'' functions, column types), belongs to a role '
'without the caller''s rights is not merged: its run is recorded failed with the reason (mlops.dedup_rule_merge_'
'refusal) and the other rules go on. Needs autocommit (CALL outside a transaction block).';

REVOKE EXECUTE ON PROCEDURE mlops.merge_duplicates(regclass, boolean, integer) FROM PUBLIC;
