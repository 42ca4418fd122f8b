-- mlops.dedup_recheck_members: a run's clusters were detected before they merge; rows the application deleted,
-- soft-deleted or merged by hand since, or whose values the rule reads changed since (the rule's evaluator gives
-- another key, text or block than detection recorded in pg_temp.mlops_dedup_rows), are marked 'changed' in the run's
-- work table (a member alone, or the whole cluster when its survivor changed): the merge goes on with what is still
-- valid instead of failing, or of merging rows that are no longer duplicates; the next run detects them afresh.

CREATE OR REPLACE FUNCTION mlops.dedup_recheck_members(
    p_target regclass, p_first_seq bigint, p_last_seq bigint, p_lock boolean DEFAULT FALSE
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
DECLARE
    v_key text := mlops.key_column(p_target);
    v_live text := '';
    v_changed bigint;
    v_evidence_changed bigint := 0;
    v_evaluator text;
    v_placeholders text[];
    v_state text;
    v_keys text[];
BEGIN
    -- the run's work table, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text,'
        ' survivor_key text, member_key text)';
    PERFORM mlops.key_refusal(p_target, true);
    IF EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_target AND a.attname = 'deleted_at' AND NOT a.attisdropped
    ) THEN
        v_live := ' AND t.deleted_at IS NULL';
    END IF;
    IF EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_target AND a.attname = 'merged_into' AND NOT a.attisdropped
    ) THEN
        v_live := v_live || ' AND t.merged_into IS NULL';
    END IF;
    -- Locked first (p_lock), in key order as merges lock: a change committed while this waited is what is checked,
    -- and none can come between this check and the merge. Rows are found by their key with the key's own equality.
    IF p_lock THEN
        v_keys := ARRAY(
            SELECT w.member_key FROM pg_temp.mlops_dedup_work AS w
            WHERE w.seq BETWEEN p_first_seq AND p_last_seq AND w.status = 'pending'
            UNION
            SELECT w.survivor_key FROM pg_temp.mlops_dedup_work AS w
            WHERE w.seq BETWEEN p_first_seq AND p_last_seq AND w.status = 'pending'
        );
        EXECUTE format(
            'SELECT count(*) FROM (SELECT FROM %1$s AS t WHERE %3$s ORDER BY t.%2$I FOR NO KEY UPDATE) AS l',
            p_target, v_key, mlops.key_match_sql(p_target, 't', '$1')
        ) USING v_keys;
    END IF;
    EXECUTE format(
        'UPDATE pg_temp.mlops_dedup_work AS w SET status = ''changed'''
        ' WHERE w.seq BETWEEN $1 AND $2 AND w.status = ''pending'''
        -- OFFSET 0: one index probe per row; without it the planner hashes the whole table for every batch
        ' AND (NOT EXISTS (SELECT FROM %1$s AS t WHERE %2$s%4$s OFFSET 0)'
        ' OR NOT EXISTS (SELECT FROM %1$s AS t WHERE %3$s%4$s OFFSET 0))',
        p_target, mlops.key_match_sql(p_target, 't', 'w.member_key', false),
        mlops.key_match_sql(p_target, 't', 'w.survivor_key', false), v_live
    ) USING p_first_seq, p_last_seq;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    -- Rows updated since detection: what the rule reads, evaluated again (as the rule's owner, like detection).
    IF to_regclass('pg_temp.mlops_dedup_rows') IS NOT NULL THEN
        PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text)';
        v_evaluator := mlops.dedup_rule_runnable_evaluator(p_target);
        SELECT r.placeholders INTO v_placeholders FROM mlops.dedup_rules AS r WHERE r.target = p_target;
        v_state := mlops.dedup_rule_session_state();
        -- The batch's rows are found in the run's rows by id through its primary key (dedup_detect), one probe each:
        -- a hash join read all of them for every batch.
        EXECUTE format(
            'WITH moved_on AS ('
            '   SELECT d.id FROM ('
            '       SELECT w.member_id AS id, w.member_key AS key FROM pg_temp.mlops_dedup_work AS w'
            '       WHERE w.seq BETWEEN $1 AND $2 AND w.status = ''pending'''
            '       UNION SELECT w.survivor_id, w.survivor_key FROM pg_temp.mlops_dedup_work AS w'
            '       WHERE w.seq BETWEEN $1 AND $2 AND w.status = ''pending'') AS x'
            '   CROSS JOIN LATERAL (SELECT d.* FROM pg_temp.mlops_dedup_rows AS d WHERE d.id = x.id OFFSET 0) AS d'
            '   INNER JOIN %1$s AS t ON %2$s CROSS JOIN LATERAL %3$s(t.*) AS v'
            '   WHERE %4$s IS DISTINCT FROM d.ekey OR %5$s IS DISTINCT FROM d.txt'
            '       OR %6$s IS DISTINCT FROM d.blk)'
            ' UPDATE pg_temp.mlops_dedup_work AS w SET status = ''changed'''
            ' WHERE w.seq BETWEEN $1 AND $2 AND w.status = ''pending'''
            ' AND (w.member_id IN (SELECT m.id FROM moved_on AS m)'
            ' OR w.survivor_id IN (SELECT m.id FROM moved_on AS m))',
            p_target, mlops.key_match_sql(p_target, 't', 'x.key', false), v_evaluator,
            -- the values as detection read them (normalized; blank and placeholders NULL)
            mlops.dedup_value_sql('v.ekey', v_placeholders, false), mlops.dedup_value_sql('v.txt', v_placeholders),
            mlops.dedup_value_sql('v.blk', v_placeholders)
        ) USING p_first_seq, p_last_seq;
        GET DIAGNOSTICS v_evidence_changed = ROW_COUNT;
        PERFORM mlops.dedup_rule_session_state(p_target, v_state, mlops.dedup_rule_session_state());
    END IF;
    RETURN v_changed + v_evidence_changed;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_recheck_members(regclass, bigint, bigint, boolean) IS
'In pg_temp.mlops_dedup_work (the run''s clusters, built by mlops.merge_duplicates), marks ''changed'' every pending '
'member with seq in [p_first_seq, p_last_seq] whose row or whose survivor''s row of p_target is gone, soft-deleted '
'(deleted_at), merged (merged_into), or no longer gives the rule the values detection recorded (exact key, text, '
'block, in pg_temp.mlops_dedup_rows). Rows are found by their keys (text, any key type) with the key''s own '
'equality; with p_lock they are first locked FOR NO KEY UPDATE in key order. Returns how many it marked. Internal '
'helper.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_recheck_members(regclass, bigint, bigint, boolean) FROM PUBLIC;
