-- mlops.merge_duplicates: detect and merge duplicates of one table, or of every enabled rule's table, in batches
-- of clusters, committing as it goes; every run is recorded in mlops.dedup_runs. A run always finishes: a batch that
-- fails is bisected down to the clusters that fail, each recorded (mlops.merge_failures) and skipped; rows changed
-- since detection are re-checked, not failures; a rule that fails as a whole leaves the others running, and the
-- CALL raises at the end. The table's advisory lock is released on every path.

CREATE OR REPLACE PROCEDURE mlops.merge_duplicates(
    p_target regclass DEFAULT NULL,
    p_dry_run boolean DEFAULT FALSE,
    p_batch_size integer DEFAULT 500,
    p_full boolean DEFAULT FALSE
)
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    -- A procedure that COMMITs cannot carry a SET clause: pin the search path here, and again after each COMMIT
    -- (settings made in a transaction end with it), keeping the caller's path for the user's triggers.
    v_caller_search_path text := mlops.pin_search_path();
    v_target regclass;
    v_rule record;
    v_rule_fingerprint text;
    v_run_id bigint;
    v_detect record;
    v_started timestamptz;
    v_batch record;
    v_batches bigint;
    v_summary jsonb;
    v_refusal text;
    v_moved bigint;
    v_members bigint;
    -- the seq ranges of the current batch still to merge (a stack: bisection pushes both halves)
    v_firsts bigint[];
    v_lasts bigint[];
    v_first bigint;
    v_last bigint;
    -- a piece's clusters: keys as text (any key type), as mlops.merge_clusters takes them
    v_survivors text[];
    v_losers text[];
    v_scores real[];
    v_clusters bigint;
    v_done boolean;
    v_merged bigint;
    v_refs bigint;
    v_conflicts bigint;
    v_merge_ids bigint[];
    -- the last error met, and the error that makes the whole rule fail
    v_state text;
    v_message text;
    v_detail text;
    v_hint text;
    v_rule_state text;
    v_rule_error text;
    v_rule_detail text;
    v_rule_hint text;
    v_canceled boolean := false;
    v_partial_error text;
    v_partial_state text;
    -- rules that failed as a whole, raised at the end
    v_failed_runs text[] := ARRAY[]::text[];
    v_failed_state text;
    v_failed_detail text;
    v_failed_hint text;
    -- the runs of this CALL: their metrics snapshot and alert check at the end
    v_run_ids bigint[] := ARRAY[]::bigint[];
    v_alert record;
    -- lock waits per try (the session's lock_timeout when shorter), and how often a piece is tried before it is
    -- bisected (or, for lock timeouts, left for the next run)
    v_lock_timeout text;
    v_attempts CONSTANT integer := 3;
    -- errors that rows changing under a running merge cause: tried again (after the re-check) before anything else
    v_retry_states CONSTANT text[] := ARRAY['55P03', '40P01', '40001', '23505', 'P0002', '55000'];
    -- concurrency, not the cluster: after the retries, left for the next run (never recorded as a failure)
    v_lock_states CONSTANT text[] := ARRAY['55P03', '40P01', '40001'];
BEGIN
    -- the session temp tables, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_members (cluster_id bigint, survivor_id bigint, member_id bigint,'
        ' reason text, score real, rnk bigint, survivor_key text, member_key text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_review (left_id bigint, right_id bigint, left_key text, right_key text,'
        ' score real, reason text, levels smallint[], model_id bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text,'
        ' survivor_key text, member_key text)';
    PERFORM mlops.assert_not_in_transaction_block(
        'mlops.merge_duplicates',
        'CALL it in autocommit mode (outside BEGIN ... COMMIT; psycopg: autocommit=True), '
        'or use mlops.merge_rows() inside your transaction.'
    );
    IF p_dry_run IS NULL OR p_full IS NULL THEN
        RAISE EXCEPTION 'p_dry_run and p_full must be true or false, not NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_batch_size IS NULL OR p_batch_size < 1 THEN
        RAISE EXCEPTION 'batch size must be a positive number of clusters, got %', p_batch_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_target IS NOT NULL AND NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = p_target) THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, exact_key, similar_text) VALUES (...).';
    END IF;
    SELECT CASE WHEN s.setting::bigint > 0 AND s.setting::bigint < 5000 THEN s.setting || 'ms' ELSE '5s' END
    INTO v_lock_timeout
    FROM pg_catalog.pg_settings AS s WHERE s.name = 'lock_timeout';
    -- Nothing was written so far: inside a transaction block this first COMMIT fails (2D000) before any work.
    COMMIT;
    PERFORM mlops.pin_search_path(v_caller_search_path);

    -- A rule whose table was dropped (DROP TABLE ... CASCADE leaves the rule's row) is named and passed over.
    FOR v_target IN
        SELECT r.target FROM mlops.dedup_rules AS r
        WHERE p_target IS NULL AND r.enabled
            AND NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
    LOOP
        RAISE WARNING 'the table of dedup rule % (oid %) no longer exists; the rule is passed over', v_target,
            v_target::oid
            USING HINT = format('DELETE FROM mlops.dedup_rules WHERE target = %s;', v_target::oid);
    END LOOP;

    FOR v_target IN
        SELECT r.target FROM mlops.dedup_rules AS r
        WHERE ((p_target IS NULL AND r.enabled) OR r.target = p_target)
            AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
        ORDER BY r.target::text
    LOOP
        SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = v_target;
        v_rule_fingerprint := mlops.dedup_rule_fingerprint(v_target);
        INSERT INTO mlops.dedup_runs (target, dry_run) VALUES (v_target, p_dry_run) RETURNING run_id INTO v_run_id;
        v_run_ids := v_run_ids || v_run_id;
        -- One run per table at a time: a session-level lock, since COMMIT releases transaction-level ones. From
        -- here on every step runs in a block that catches its error, so the unlock below is always reached.
        IF NOT pg_try_advisory_lock(hashtext('mlops.merge_duplicates'), v_target::oid::integer) THEN
            UPDATE mlops.dedup_runs SET status = 'skipped', finished_at = clock_timestamp(),
                error = 'another merge_duplicates run holds this table'
            WHERE run_id = v_run_id;
            RAISE NOTICE 'run %: % is being merged by another session; skipped', v_run_id, v_target;
            COMMIT;
            PERFORM mlops.pin_search_path(v_caller_search_path);
            CONTINUE;
        END IF;
        COMMIT;
        PERFORM mlops.pin_search_path(v_caller_search_path);
        v_rule_state := NULL;
        v_rule_error := NULL;
        v_rule_detail := NULL;
        v_rule_hint := NULL;
        v_partial_error := NULL;
        v_partial_state := NULL;

        -- 0. Incremental rules: their table's changes are captured from here on (a trigger is created once, in a
        --    transaction of its own: it locks out writes for that instant). A failure here is only a full pass.
        --    Not for a rule whose merges are refused (below): its runs change nothing, its table gets no trigger.
        IF NOT p_dry_run THEN
            BEGIN
                PERFORM set_config('lock_timeout', v_lock_timeout, true);
                IF mlops.dedup_rule_merge_refusal(v_target) IS NULL THEN
                    PERFORM mlops.dedup_track_changes(v_target);
                END IF;
            EXCEPTION
                WHEN query_canceled THEN
                    GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                    v_canceled := mlops.dedup_cancel_requested();
                WHEN OTHERS THEN
                    GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                    RAISE NOTICE 'run %: changes of % are not captured (% (%)): this run reads the whole table',
                        v_run_id, v_target, v_message, v_state;
            END;
            COMMIT;
            PERFORM mlops.pin_search_path(v_caller_search_path);
        END IF;

        -- 1. Detection: a rule that fails here (its expression raises, a timeout, a refusal) fails as a whole.
        <<detection>>
        BEGIN
            EXIT detection WHEN v_rule_state IS NOT NULL;  -- cancelled in step 0
            PERFORM set_config('lock_timeout', v_lock_timeout, true);
            -- A rule's merges run only with rights its writer has (a dry run changes nothing, so it may go on).
            v_refusal := CASE WHEN p_dry_run THEN NULL ELSE mlops.dedup_rule_merge_refusal(v_target) END;
            IF v_refusal IS NOT NULL THEN
                RAISE EXCEPTION '%', v_refusal USING ERRCODE = 'insufficient_privilege';
            END IF;
            -- A run still marked running without the lock was interrupted (its session ended).
            UPDATE mlops.dedup_runs SET status = 'failed', finished_at = clock_timestamp(),
                error = 'interrupted: the session ended before the run finished'
            WHERE target = v_target AND status = 'running' AND run_id <> v_run_id;

            v_started := clock_timestamp();
            SELECT d.* INTO v_detect FROM mlops.dedup_detect(v_target, NOT p_dry_run, p_full) AS d;
            v_members := v_detect.members;
            SELECT max(m.cluster_id) / p_batch_size + (max(m.cluster_id) % p_batch_size > 0)::integer INTO v_batches
            FROM pg_temp.mlops_dedup_members AS m;
            UPDATE mlops.dedup_runs
            SET detect_ms = (extract(EPOCH FROM clock_timestamp() - v_started) * 1000)::bigint,
                clusters = (SELECT count(DISTINCT m.cluster_id) FROM pg_temp.mlops_dedup_members AS m),
                candidates_queued = v_detect.review_pairs,
                full_pass = v_detect.full_pass,
                rows_changed = v_detect.changed_rows,
                rows_compared = v_detect.live_rows
            WHERE run_id = v_run_id;
            RAISE NOTICE 'run %: % — %, % candidate pairs, % rows in % clusters to merge, % pairs for '
                'review%', v_run_id, v_target,
                CASE WHEN v_detect.full_pass THEN format('%s live rows', v_detect.live_rows)
                    ELSE format('%s rows changed since the last run, %s rows compared', v_detect.changed_rows,
                        v_detect.live_rows) END,
                v_detect.candidate_pairs, v_detect.members,
                (SELECT count(DISTINCT m.cluster_id) FROM pg_temp.mlops_dedup_members AS m), v_detect.review_pairs,
                CASE WHEN p_dry_run THEN ' (dry run: nothing changes)' ELSE '' END;

            IF NOT p_dry_run THEN
                INSERT INTO mlops.duplicate_candidates (target, left_id, right_id, left_key, right_key, score, reason,
                    levels, model_id)
                SELECT v_target, r.left_id, r.right_id, r.left_key, r.right_key, r.score, r.reason, r.levels,
                    r.model_id
                FROM pg_temp.mlops_dedup_review AS r
                ON CONFLICT (target, left_key, right_key) DO NOTHING;
                PERFORM mlops.dedup_work_prepare(p_batch_size);
                -- Clusters an earlier run recorded failed, unchanged since, are skipped (or their records cleared).
                UPDATE mlops.dedup_runs
                SET clusters_skipped = mlops.dedup_skip_failed_clusters(v_target, v_rule_fingerprint)
                WHERE run_id = v_run_id
                RETURNING CASE WHEN clusters_skipped > 0 THEN format('%s clusters skipped: an earlier run recorded them '
                    'failed and neither their rows nor the rule changed (mlops.merge_failures; clear with '
                    'mlops.merge_failures_clear)', clusters_skipped) END
                INTO v_partial_error;
            END IF;
        EXCEPTION
            WHEN query_canceled THEN
                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                v_canceled := mlops.dedup_cancel_requested();
            WHEN OTHERS THEN
                -- not swallowed: the rule's run is recorded failed with it, and the CALL raises it at the end
                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT,
                    v_rule_detail = PG_EXCEPTION_DETAIL, v_rule_hint = PG_EXCEPTION_HINT;
        END;
        COMMIT;
        PERFORM mlops.pin_search_path(v_caller_search_path);

        -- 2. References inserted since to soft-deleted merged rows: same lock timeout and retries as batches; a
        --    step that keeps failing is left for the next run (partial), the batches still run.
        IF v_rule_state IS NULL AND NOT p_dry_run THEN
            FOR v_attempt IN 1..v_attempts LOOP
                v_state := NULL;
                BEGIN
                    PERFORM set_config('lock_timeout', v_lock_timeout, true);
                    v_moved := mlops.merge_repoint_stale(v_target);
                    UPDATE mlops.dedup_runs SET references_moved = references_moved + v_moved WHERE run_id = v_run_id;
                    -- deferred constraints checked here, where an error is caught, not at the COMMIT below
                    SET CONSTRAINTS ALL IMMEDIATE;
                EXCEPTION
                    WHEN query_canceled THEN
                        GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                        v_canceled := mlops.dedup_cancel_requested();
                    WHEN OTHERS THEN
                        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                END;
                COMMIT;
                PERFORM mlops.pin_search_path(v_caller_search_path);
                EXIT WHEN v_rule_state IS NOT NULL OR v_state IS NULL;
                RAISE NOTICE 'run %: re-pointing references to soft-deleted merged rows, attempt % of %: % (%)',
                    v_run_id, v_attempt, v_attempts, v_message, v_state;
                IF v_attempt = v_attempts OR NOT v_state = ANY (v_retry_states) THEN
                    v_partial_state := v_state;
                    v_partial_error := format('re-pointing references to soft-deleted merged rows left for the next '
                        'run: %s', v_message);
                    EXIT;
                END IF;
            END LOOP;
        END IF;

        -- 3. Batches. A piece (a seq range) that fails is tried again when the error may come from rows changing
        --    under the run (re-checked first), then bisected; a single cluster that still fails is recorded.
        IF v_rule_state IS NULL AND NOT p_dry_run THEN
            v_started := clock_timestamp();
            FOR v_batch IN
                SELECT w.batch_no, w.why, min(w.seq) AS first_seq, max(w.seq) AS last_seq
                FROM pg_temp.mlops_dedup_work AS w
                GROUP BY w.batch_no, w.why
                ORDER BY w.batch_no, w.why
            LOOP
                v_firsts := ARRAY[v_batch.first_seq];
                v_lasts := ARRAY[v_batch.last_seq];
                WHILE cardinality(v_firsts) > 0 AND v_rule_state IS NULL LOOP
                    v_first := v_firsts[cardinality(v_firsts)];
                    v_last := v_lasts[cardinality(v_lasts)];
                    v_firsts := v_firsts[1:cardinality(v_firsts) - 1];
                    v_lasts := v_lasts[1:cardinality(v_lasts) - 1];
                    FOR v_attempt IN 1..v_attempts LOOP
                        v_done := false;
                        v_state := NULL;
                        v_clusters := 0;
                        v_survivors := NULL;
                        v_losers := NULL;
                        BEGIN
                            PERFORM set_config('lock_timeout', v_lock_timeout, true);
                            PERFORM mlops.dedup_recheck_members(v_target, v_first, v_last, true);
                            SELECT array_agg(w.survivor_key ORDER BY w.seq, w.rnk),
                                array_agg(w.member_key ORDER BY w.seq, w.rnk),
                                array_agg(w.score ORDER BY w.seq, w.rnk),
                                count(DISTINCT w.seq)
                            INTO v_survivors, v_losers, v_scores, v_clusters
                            FROM pg_temp.mlops_dedup_work AS w
                            WHERE w.seq BETWEEN v_first AND v_last AND w.status = 'pending';
                            IF v_clusters > 0 THEN
                                -- the merges' run (mlops.merges.run_id's default reads it), for undo of the run
                                PERFORM set_config('mlops.run_id', v_run_id::text, true);
                                SELECT r.merged_rows, r.moved_references, r.conflict_rows, r.merge_ids
                                INTO v_merged, v_refs, v_conflicts, v_merge_ids
                                FROM mlops.merge_clusters(
                                    v_target, v_survivors, v_losers, format('dedup run %s: %s', v_run_id, v_batch.why),
                                    v_scores, NULL, v_rule.soft_delete, v_rule.fill_nulls
                                ) AS r;
                                UPDATE pg_temp.mlops_dedup_work AS w SET status = 'merged'
                                WHERE w.seq BETWEEN v_first AND v_last AND w.status = 'pending';
                                UPDATE mlops.dedup_runs
                                SET rows_merged = rows_merged + v_merged,
                                    references_moved = references_moved + v_refs,
                                    conflicts_merged = conflicts_merged + v_conflicts,
                                    conflicts = mlops.merge_conflicts_add(conflicts, v_merge_ids)
                                WHERE run_id = v_run_id;
                                -- Deferred constraints (the user's, or deferrable unique keys) are checked here,
                                -- where an error is caught and bisected, not at the COMMIT, where it would end the
                                -- CALL with the run unrecorded.
                                SET CONSTRAINTS ALL IMMEDIATE;
                            END IF;
                            v_done := true;
                        EXCEPTION
                            WHEN query_canceled THEN
                                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                                v_canceled := mlops.dedup_cancel_requested();
                            WHEN OTHERS THEN
                                -- not swallowed: tried again, bisected, or recorded in mlops.merge_failures below
                                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT,
                                    v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
                        END;
                        EXIT WHEN v_done OR v_rule_state IS NOT NULL;
                        EXIT WHEN NOT v_state = ANY (v_retry_states) OR v_attempt = v_attempts;
                        RAISE NOTICE 'run %: batch % (%), clusters % to %: attempt % of %: % (%)', v_run_id,
                            v_batch.batch_no + 1, v_batch.why, v_first, v_last, v_attempt, v_attempts, v_message,
                            v_state;
                    END LOOP;

                    IF v_done OR v_rule_state IS NOT NULL THEN
                        NULL;
                    ELSIF v_state = ANY (v_lock_states) THEN
                        -- locks held by others: bisecting would wait again for each half; left for the next run
                        BEGIN
                            PERFORM mlops.dedup_recheck_members(v_target, v_first, v_last);
                            UPDATE pg_temp.mlops_dedup_work AS w SET status = 'left', sqlstate = v_state
                            WHERE w.seq BETWEEN v_first AND v_last AND w.status = 'pending';
                        EXCEPTION
                            WHEN query_canceled THEN
                                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                                v_canceled := mlops.dedup_cancel_requested();
                            WHEN OTHERS THEN
                                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                        END;
                        v_partial_state := coalesce(v_partial_state, v_state);
                        v_partial_error := coalesce(v_partial_error, format(
                            'batch %s: clusters of survivors %s left for the next run: %s', v_batch.batch_no + 1,
                            mlops.format_ids(ARRAY(SELECT w.survivor_key FROM pg_temp.mlops_dedup_work AS w
                                WHERE w.seq BETWEEN v_first AND v_last AND w.survivor_key = ANY (v_survivors)
                                GROUP BY w.survivor_id, w.survivor_key ORDER BY w.survivor_id)), v_message));
                    ELSIF v_clusters > 1 THEN
                        -- bisect: the first half is tried first (pushed last)
                        v_firsts := v_firsts || (v_first + (v_last - v_first) / 2 + 1);
                        v_lasts := v_lasts || v_last;
                        v_firsts := v_firsts || v_first;
                        v_lasts := v_lasts || (v_first + (v_last - v_first) / 2);
                    ELSIF v_clusters = 0 THEN
                        -- failed before the cluster list was read (the re-check itself): the rule fails
                        v_rule_state := v_state;
                        v_rule_error := v_message;
                        v_rule_detail := v_detail;
                        v_rule_hint := v_hint;
                    ELSE
                        -- one cluster that cannot merge: recorded with its error and skipped; the run goes on
                        BEGIN
                            PERFORM mlops.dedup_recheck_members(v_target, v_first, v_last);
                            PERFORM mlops.merge_failure_record(
                                v_run_id, v_target, v_survivors[1], v_losers, v_state, v_message, v_detail, v_hint,
                                v_rule_fingerprint, v_first, v_last
                            );
                        EXCEPTION
                            WHEN query_canceled THEN
                                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                                v_canceled := mlops.dedup_cancel_requested();
                            WHEN OTHERS THEN
                                GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                        END;
                    END IF;
                    COMMIT;
                    PERFORM mlops.pin_search_path(v_caller_search_path);
                END LOOP;
                EXIT WHEN v_rule_state IS NOT NULL;

                -- What the batch did, as one NOTICE and in the run record.
                BEGIN
                    PERFORM mlops.dedup_batch_report(
                        v_run_id, v_batch.batch_no + 1, v_batches, v_batch.why, v_batch.first_seq, v_batch.last_seq
                    );
                EXCEPTION
                    WHEN query_canceled THEN
                        GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                        v_canceled := mlops.dedup_cancel_requested();
                    WHEN OTHERS THEN
                        GET STACKED DIAGNOSTICS v_rule_state = RETURNED_SQLSTATE, v_rule_error = MESSAGE_TEXT;
                END;
                COMMIT;
                PERFORM mlops.pin_search_path(v_caller_search_path);
                EXIT WHEN v_rule_state IS NOT NULL;
            END LOOP;
        END IF;

        -- 4. The run's end, on every path: what an incremental run leaves for the next one, status, notification,
        --    the lock released.
        BEGIN
            PERFORM mlops.dedup_state_finish(v_target, v_rule_state IS NULL AND NOT p_dry_run);
        EXCEPTION
            WHEN query_canceled THEN
                -- the state stays incomplete: the next run reads the whole table
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                v_canceled := mlops.dedup_cancel_requested();
                v_rule_state := coalesce(v_rule_state, v_state);
                v_rule_error := coalesce(v_rule_error, v_message);
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                RAISE WARNING 'run %: could not record what the next run must look at (the next run reads the whole '
                    'table): %', v_run_id, v_message;
        END;
        BEGIN
            UPDATE mlops.dedup_runs AS r
            SET status = CASE
                    WHEN v_canceled THEN 'cancelled'
                    WHEN v_rule_state IS NOT NULL THEN 'failed'
                    WHEN r.batches_failed > 0 OR r.clusters_failed > 0 OR v_partial_error IS NOT NULL THEN 'partial'
                    ELSE 'succeeded' END,
                error = CASE WHEN v_rule_state IS NOT NULL THEN v_rule_error
                    ELSE coalesce(r.error, v_partial_error) END,
                error_sqlstate = CASE WHEN v_rule_state IS NOT NULL THEN v_rule_state
                    ELSE coalesce(r.error_sqlstate, v_partial_state) END,
                rows_merged = CASE WHEN p_dry_run AND v_rule_state IS NULL THEN v_members ELSE r.rows_merged END,
                finished_at = clock_timestamp(),
                merge_ms = CASE WHEN p_dry_run OR v_rule_state IS NOT NULL THEN r.merge_ms
                    ELSE (extract(EPOCH FROM clock_timestamp() - v_started) * 1000)::bigint END
            WHERE r.run_id = v_run_id;
            SELECT to_jsonb(r) INTO v_summary FROM mlops.dedup_runs AS r WHERE r.run_id = v_run_id;
            PERFORM pg_notify('mlops_dedup', v_summary::text);
        EXCEPTION
            WHEN query_canceled THEN
                -- cancelled while recording the end: the cancel is spent, so this short UPDATE goes through
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                v_canceled := mlops.dedup_cancel_requested();
                v_rule_state := coalesce(v_rule_state, v_state);
                v_rule_error := coalesce(v_rule_error, v_message);
                UPDATE mlops.dedup_runs
                SET status = CASE WHEN v_canceled THEN 'cancelled' ELSE 'failed' END, finished_at = clock_timestamp(),
                    error = v_rule_error, error_sqlstate = v_rule_state
                WHERE run_id = v_run_id;
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_message = MESSAGE_TEXT;
                RAISE WARNING 'run %: could not record its end: %', v_run_id, v_message;
        END;
        PERFORM pg_advisory_unlock(hashtext('mlops.merge_duplicates'), v_target::oid::integer);
        COMMIT;
        PERFORM mlops.pin_search_path(v_caller_search_path);
        IF v_rule_state IS NOT NULL THEN
            RAISE WARNING 'run %: % %: % (SQLSTATE %)', v_run_id, v_target,
                CASE WHEN v_canceled THEN 'cancelled' ELSE 'failed' END, v_rule_error, v_rule_state;
            IF v_canceled THEN
                RAISE EXCEPTION 'run % of % canceled: %', v_run_id, v_target, v_rule_error
                    USING ERRCODE = 'query_canceled',
                    DETAIL = 'Batches before it are committed; the run is recorded cancelled; later rules did not run.';
            END IF;
            v_failed_runs := v_failed_runs || format('run %s (%s): %s', v_run_id, v_target, v_rule_error);
            v_failed_state := coalesce(v_failed_state, v_rule_state);
            IF cardinality(v_failed_runs) = 1 THEN
                v_failed_detail := v_rule_detail;
                v_failed_hint := v_rule_hint;
            END IF;
        END IF;
    END LOOP;

    -- The runs' metrics snapshot (the dashboard's trends) and the alert rules: what fails here is a WARNING, the
    -- runs stand. A dry run changes nothing, these included.
    IF NOT p_dry_run AND cardinality(v_run_ids) > 0 THEN
        -- a table locked by someone else is not waited for: the runs are done, only their snapshot is missing (the
        -- next check takes one)
        BEGIN
            PERFORM set_config('lock_timeout', v_lock_timeout, true);
            PERFORM mlops.record_metrics(v_run_ids);
        EXCEPTION
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                RAISE WARNING 'runs %: no metrics snapshot: % (SQLSTATE %)', array_to_string(v_run_ids, ', '),
                    v_message, v_state
                    USING HINT = 'SELECT * FROM mlops.record_metrics(); measures the tables on demand.';
        END;
        COMMIT;
        PERFORM mlops.pin_search_path(v_caller_search_path);
        -- a run not checked here stays unchecked (mlops.alert_checked_runs): the next check looks at it
        BEGIN
            PERFORM set_config('lock_timeout', v_lock_timeout, true);
            FOR v_alert IN SELECT a.* FROM mlops.check_alerts(v_run_ids) AS a LOOP
                RAISE NOTICE 'alert % (%, %): %', v_alert.alert_id, v_alert.kind, v_alert.severity, v_alert.message;
            END LOOP;
        EXCEPTION
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                RAISE WARNING 'runs %: alerts not checked: % (SQLSTATE %)', array_to_string(v_run_ids, ', '),
                    v_message, v_state
                    USING HINT = 'SELECT * FROM mlops.check_alerts(); checks them on demand.';
        END;
        COMMIT;
        PERFORM mlops.pin_search_path(v_caller_search_path);
    END IF;

    -- A scheduler must see a rule that failed: the CALL fails, after the other rules ran.
    IF cardinality(v_failed_runs) > 0 THEN
        v_message := format('mlops.merge_duplicates: %s of its rules failed: %s', cardinality(v_failed_runs),
            array_to_string(v_failed_runs, '; '));
        v_hint := 'The other rules ran and are committed; SELECT * FROM mlops.dedup_runs WHERE status = ''failed''.';
        IF cardinality(v_failed_runs) = 1 AND nullif(v_failed_detail, '') IS NOT NULL THEN
            RAISE EXCEPTION '%', v_message USING ERRCODE = v_failed_state, DETAIL = v_failed_detail,
                HINT = coalesce(nullif(v_failed_hint, ''), v_hint);
        END IF;
        RAISE EXCEPTION '%', v_message USING ERRCODE = v_failed_state,
            HINT = CASE WHEN cardinality(v_failed_runs) = 1 THEN coalesce(nullif(v_failed_hint, ''), v_hint)
                ELSE v_hint END;
    END IF;
END;
$$;

COMMENT ON PROCEDURE mlops.merge_duplicates (regclass, boolean, integer, boolean) IS
'Detects and merges duplicates of one table (or every enabled rule when NULL) in batches of clusters, committing '
'after each. Incremental: a rule with incremental = true (the default) compares only rows inserted, changed or '
'deleted since its last run (captured by statement triggers the first run creates on the table: '
'mlops.dedup_track_changes) with the rows they may match; the first run, a changed rule, or p_full => true reads '
'the whole table. queues review-band pairs; re-points references to soft-deleted merged rows; records each run in '
'mlops.dedup_runs and notifies channel mlops_dedup. dry_run records what would happen and changes nothing else. '
'At the end of the CALL (not a dry run) the runs'' metrics are stored (mlops.record_metrics) and the alert rules '
'checked (mlops.check_alerts: NOTICE per alert, NOTIFY mlops_dedup_alerts); merges carry their run_id. '
'A batch that fails is bisected: each cluster that cannot merge is recorded in mlops.merge_failures and skipped '
'(run partial) until its rows or the rule change or mlops.merge_failures_clear(); members changed since detection '
'are left out (clusters_changed); lock timeouts (5 s, or the session''s when shorter) are tried 3 times, then left '
'for the next run. A rule that fails as a whole (detection error, timeout, a writer or table without the caller''s '
'rights: mlops.dedup_rule_merge_refusal) is recorded failed and the others run; then the CALL raises with the first '
'failure''s SQLSTATE naming the failed runs. A cancel request (pg_cancel_backend, Ctrl-C) wherever the run '
'waits stops the CALL (57014) after recording the run cancelled and releasing its lock. Needs '
'autocommit: 25000 in a block that wrote, else 2D000 at its first COMMIT, before any work.';

REVOKE EXECUTE ON PROCEDURE mlops.merge_duplicates(regclass, boolean, integer, boolean) FROM PUBLIC;
