-- mlops.dedup_recheck_members: a run's clusters were detected before they merge; rows the application deleted,
-- soft-deleted or merged by hand since are marked 'changed' in the run's work table (a member alone, or the whole
-- cluster when its survivor changed), so the merge goes on with what is still valid instead of failing.

CREATE OR REPLACE FUNCTION mlops.dedup_recheck_members(p_target regclass, p_first_seq bigint, p_last_seq bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text := mlops.integer_key_column(p_target);
    v_live text := '';
    v_changed bigint;
BEGIN
    -- the run's work table, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text)';
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
    EXECUTE format(
        'UPDATE pg_temp.mlops_dedup_work AS w SET status = ''changed'''
        ' WHERE w.seq BETWEEN $1 AND $2 AND w.status = ''pending'''
        ' AND (NOT EXISTS (SELECT FROM %1$s AS t WHERE t.%2$I = w.member_id%3$s)'
        ' OR NOT EXISTS (SELECT FROM %1$s AS t WHERE t.%2$I = w.survivor_id%3$s))',
        p_target, v_key, v_live
    ) USING p_first_seq, p_last_seq;
    GET DIAGNOSTICS v_changed = ROW_COUNT;
    RETURN v_changed;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_recheck_members(regclass, bigint, bigint) IS
'In pg_temp.mlops_dedup_work (the run''s clusters, built by mlops.merge_duplicates), marks ''changed'' every pending '
'member with seq in [p_first_seq, p_last_seq] whose row or whose survivor''s row of p_target is gone, soft-deleted '
'(deleted_at) or merged (merged_into); returns how many it marked. Internal helper.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_recheck_members(regclass, bigint, bigint) FROM PUBLIC;
