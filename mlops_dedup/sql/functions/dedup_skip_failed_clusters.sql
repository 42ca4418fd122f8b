-- mlops.dedup_skip_failed_clusters: before a run merges, every open failure of the table (mlops.merge_failures) is
-- compared with what detection found now: the same cluster with unchanged rows under an unchanged rule is skipped;
-- otherwise the record is cleared (rows changed, rule changed, no longer detected) and the cluster is tried again.
-- Clusters are compared by their keys' text (any key type), the losers as a set.

CREATE OR REPLACE FUNCTION mlops.dedup_skip_failed_clusters(p_target regclass, p_rule_fingerprint text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
DECLARE
    v_failure record;
    v_losers text[];
    v_reason text;
    v_skipped bigint := 0;
BEGIN
    -- the run's work table, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text,'
        ' survivor_key text, member_key text)';
    FOR v_failure IN
        SELECT f.failure_id, f.survivor_key, f.loser_keys, f.rows_fingerprint, f.rule_fingerprint
        FROM mlops.merge_failures AS f
        WHERE f.target = p_target AND f.cleared_at IS NULL
        ORDER BY f.failure_id
    LOOP
        SELECT array_agg(w.member_key ORDER BY w.member_key) INTO v_losers
        FROM pg_temp.mlops_dedup_work AS w
        WHERE w.survivor_key = v_failure.survivor_key;
        v_reason := CASE
            WHEN v_losers IS DISTINCT FROM ARRAY(SELECT l.k FROM unnest(v_failure.loser_keys) AS l (k) ORDER BY l.k)
                THEN 'no longer detected'
            WHEN p_rule_fingerprint IS DISTINCT FROM v_failure.rule_fingerprint THEN 'rule changed'
            WHEN mlops.merge_cluster_fingerprint(p_target, v_failure.survivor_key || v_failure.loser_keys)
                <> v_failure.rows_fingerprint THEN 'rows changed'
        END;
        IF v_reason IS NULL THEN
            UPDATE pg_temp.mlops_dedup_work AS w SET status = 'skipped'
            WHERE w.survivor_key = v_failure.survivor_key AND w.status = 'pending';
            v_skipped := v_skipped + 1;
        ELSE
            UPDATE mlops.merge_failures AS f
            SET cleared_at = now(), cleared_by = current_user, cleared_reason = v_reason
            WHERE f.failure_id = v_failure.failure_id;
        END IF;
    END LOOP;
    RETURN v_skipped;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_skip_failed_clusters(regclass, text) IS
'For each open failure of p_target in mlops.merge_failures: marks its cluster ''skipped'' in pg_temp.mlops_dedup_work '
'when detection found the same cluster (survivor and losers, by their keys as text), its rows'' fingerprint and the '
'rule''s (p_rule_fingerprint) unchanged; else clears the record (cleared_reason: rows changed, rule changed, no '
'longer detected). Returns the number of clusters skipped. Internal helper of mlops.merge_duplicates.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_skip_failed_clusters(regclass, text) FROM PUBLIC;
