-- mlops.dedup_work_prepare: a run's work list, pg_temp.mlops_dedup_work, from detection's clusters: each cluster gets
-- a seq, contiguous within a batch (batch_no and kind of evidence), and each member a status the run keeps up to date
-- (pending, merged, changed, failed, skipped, left). Keys are text (any key type); the ids are detection's row numbers
-- (the keys themselves for an integer key), which order a cluster's rows by key.

CREATE OR REPLACE FUNCTION mlops.dedup_work_prepare(p_batch_size integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
BEGIN
    IF to_regclass('pg_temp.mlops_dedup_work') IS NOT NULL THEN
        EXECUTE 'DROP TABLE pg_temp.mlops_dedup_work';
    END IF;
    EXECUTE format(
        $q$
        CREATE TEMP TABLE mlops_dedup_work AS
        SELECT dense_rank() OVER (ORDER BY (m.cluster_id - 1) / %1$s, w.why, m.cluster_id) AS seq,
            (m.cluster_id - 1) / %1$s AS batch_no, w.why, m.cluster_id, m.survivor_id, m.member_id,
            m.score, m.rnk, 'pending'::text AS status, NULL::text AS sqlstate, m.survivor_key, m.member_key
        FROM pg_temp.mlops_dedup_members AS m
        INNER JOIN (
            SELECT x.cluster_id, string_agg(DISTINCT x.reason, '+') AS why
            FROM pg_temp.mlops_dedup_members AS x
            GROUP BY x.cluster_id
        ) AS w ON w.cluster_id = m.cluster_id
        $q$,
        p_batch_size
    );
    EXECUTE 'CREATE INDEX ON pg_temp.mlops_dedup_work (seq)';
    EXECUTE 'CREATE INDEX ON pg_temp.mlops_dedup_work (survivor_key)';
    EXECUTE 'ANALYZE pg_temp.mlops_dedup_work';
END;
$$;

COMMENT ON FUNCTION mlops.dedup_work_prepare(integer) IS
'Builds pg_temp.mlops_dedup_work (seq, batch_no, why, cluster_id, survivor_id, member_id, score, rnk, status, '
'sqlstate, survivor_key, member_key) from pg_temp.mlops_dedup_members (mlops.dedup_detect), batches of p_batch_size '
'clusters, every member ''pending''. Keys are text; the ids are detection''s row numbers (the keys themselves for an '
'integer key). Internal helper of mlops.merge_duplicates.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_work_prepare(integer) FROM PUBLIC;
