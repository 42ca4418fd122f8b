-- mlops.unmerge_run: undoes every merge a merge_duplicates run made, newest first, in the caller's transaction: all
-- of them or none (a merge another merge depends on since refuses, and nothing is undone).

CREATE OR REPLACE FUNCTION mlops.unmerge_run(p_run_id bigint)
RETURNS TABLE (merge_id bigint, target regclass, survivor_key text, loser_keys text[])
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
-- No SET clause: mlops.pin_search_path must see the caller's search_path (see there).
AS $$
DECLARE
    v_caller_search_path text := mlops.pin_search_path();
    v_run mlops.dedup_runs;
    v_merge record;
BEGIN
    IF p_run_id IS NULL THEN
        RAISE EXCEPTION 'run id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT u.* INTO v_run FROM mlops.dedup_runs AS u WHERE u.run_id = p_run_id;
    IF v_run.run_id IS NULL THEN
        RAISE EXCEPTION 'run % does not exist', p_run_id
            USING ERRCODE = 'no_data_found', HINT = 'SELECT run_id, target, status FROM mlops.dedup_runs lists them.';
    END IF;
    IF v_run.dry_run THEN
        RAISE EXCEPTION 'run % was a dry run: it merged nothing', p_run_id USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_run.status = 'running' THEN
        RAISE EXCEPTION 'run % of % is still running', p_run_id, v_run.target
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'Undo it once it has finished (mlops.dedup_runs.status).';
    END IF;
    IF NOT EXISTS (
        SELECT FROM mlops.merges AS m
        WHERE m.run_id = p_run_id AND m.parent_merge_id IS NULL AND m.undone_at IS NULL
    ) THEN
        RAISE EXCEPTION 'run % of % has no merge left to undo', p_run_id, v_run.target
            USING ERRCODE = 'no_data_found',
            DETAIL = format('It merged %s rows; its merges were undone already, or it merged none.',
                v_run.rows_merged);
    END IF;
    -- newest first: a later merge of the same run may have taken an earlier one's survivor
    FOR v_merge IN
        SELECT m.merge_id, m.target, m.survivor_key, m.loser_keys
        FROM mlops.merges AS m
        WHERE m.run_id = p_run_id AND m.parent_merge_id IS NULL AND m.undone_at IS NULL
        ORDER BY m.merge_id DESC
    LOOP
        PERFORM mlops.unmerge(v_merge.merge_id);
        merge_id := v_merge.merge_id;
        target := v_merge.target;
        survivor_key := v_merge.survivor_key;
        loser_keys := v_merge.loser_keys;
        RETURN NEXT;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', v_caller_search_path, true);
END;
$$;

COMMENT ON FUNCTION mlops.unmerge_run(bigint) IS
'Undoes every merge of a merge_duplicates run (mlops.merges.run_id) not undone yet, newest first, with '
'mlops.unmerge; returns one row per merge undone (merge_id, target, survivor_key, loser_keys text[]). All or none, in '
'the caller''s transaction: an error of any one (a later merge outside the run depends on it: 55000 naming it; no '
'right to write a table back: 42501) undoes nothing. Errors: NULL 22004; no such run P0002; a dry run 22023; still '
'running 55000; nothing left to undo P0002.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge_run(bigint) FROM PUBLIC;
