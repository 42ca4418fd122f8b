-- mlops.dedup_batch_report: what one batch of a run did, from the run's work list: one NOTICE (merged, changed since
-- detection, failed, left for the next run, skipped; first few keys, in key order, and the count, SQLSTATE) and the
-- run's counts.

CREATE OR REPLACE FUNCTION mlops.dedup_batch_report(
    p_run_id bigint, p_batch_no bigint, p_batches bigint, p_why text, p_first_seq bigint, p_last_seq bigint
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
DECLARE
    v_stats record;
    v_clusters record;
BEGIN
    -- the run's work table, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text,'
        ' survivor_key text, member_key text)';
    -- keys in key order: detection's row numbers (the ids) follow it, whatever the key type
    SELECT
        count(*) FILTER (WHERE w.status = 'merged') AS merged,
        count(DISTINCT w.cluster_id) FILTER (WHERE w.status = 'changed') AS changed_clusters,
        array_agg(w.member_key ORDER BY w.member_id) FILTER (WHERE w.status = 'changed') AS changed,
        string_agg(DISTINCT w.sqlstate, ', ') FILTER (WHERE w.status = 'failed') AS failed_states,
        string_agg(DISTINCT w.sqlstate, ', ') FILTER (WHERE w.status = 'left') AS left_states
    INTO v_stats
    FROM pg_temp.mlops_dedup_work AS w
    WHERE w.seq BETWEEN p_first_seq AND p_last_seq;
    -- one survivor per cluster
    SELECT
        array_agg(c.survivor_key ORDER BY c.survivor_id) FILTER (WHERE c.status = 'failed') AS failed,
        array_agg(c.survivor_key ORDER BY c.survivor_id) FILTER (WHERE c.status = 'left') AS left_over,
        array_agg(c.survivor_key ORDER BY c.survivor_id) FILTER (WHERE c.status = 'skipped') AS skipped
    INTO v_clusters
    FROM (
        SELECT DISTINCT w.survivor_id, w.survivor_key, w.status
        FROM pg_temp.mlops_dedup_work AS w
        WHERE w.seq BETWEEN p_first_seq AND p_last_seq AND w.status IN ('failed', 'left', 'skipped')
    ) AS c;
    UPDATE mlops.dedup_runs
    SET batches = batches + 1,
        batches_failed = batches_failed + (v_clusters.left_over IS NOT NULL)::integer,
        clusters_changed = clusters_changed + v_stats.changed_clusters
    WHERE run_id = p_run_id;
    RAISE NOTICE 'run %: batch % of % (%): merged % rows%', p_run_id, p_batch_no, p_batches, p_why, v_stats.merged,
        concat(
            CASE WHEN v_stats.changed IS NOT NULL THEN format(
                '; %s rows changed since detection, not merged (keys %s)', cardinality(v_stats.changed),
                mlops.format_ids(v_stats.changed)) END,
            CASE WHEN v_clusters.failed IS NOT NULL THEN format(
                '; %s clusters failed, recorded in mlops.merge_failures (survivors %s; SQLSTATE %s)',
                cardinality(v_clusters.failed), mlops.format_ids(v_clusters.failed), v_stats.failed_states) END,
            CASE WHEN v_clusters.left_over IS NOT NULL THEN format(
                '; %s clusters left for the next run (survivors %s; SQLSTATE %s)', cardinality(v_clusters.left_over),
                mlops.format_ids(v_clusters.left_over), v_stats.left_states) END,
            CASE WHEN v_clusters.skipped IS NOT NULL THEN format(
                '; %s clusters skipped, failed in an earlier run (survivors %s)', cardinality(v_clusters.skipped),
                mlops.format_ids(v_clusters.skipped)) END
        );
END;
$$;

COMMENT ON FUNCTION mlops.dedup_batch_report(bigint, bigint, bigint, text, bigint, bigint) IS
'Reports batch p_batch_no of p_batches (evidence p_why, seq [p_first_seq, p_last_seq] of pg_temp.mlops_dedup_work) '
'of run p_run_id: adds it to the run''s batches, batches_failed (clusters left for the next run) and '
'clusters_changed, and raises one NOTICE. Internal helper of mlops.merge_duplicates.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_batch_report(bigint, bigint, bigint, text, bigint, bigint) FROM PUBLIC;
