-- mlops.merge_failure_record: a cluster a run could not merge is recorded with its error (mlops.merge_failures), its
-- members marked failed in the run's work list, and the run counts it (its error names the first failure). Keys are
-- text (any key type), the losers kept in key order.

CREATE OR REPLACE FUNCTION mlops.merge_failure_record(
    p_run_id bigint,
    p_target regclass,
    p_survivor_key text,
    p_loser_keys text[],
    p_sqlstate text,
    p_message text,
    p_detail text,
    p_hint text,
    p_rule_fingerprint text,
    p_first_seq bigint,
    p_last_seq bigint
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
    v_failure_id bigint;
    v_losers text[];
BEGIN
    -- the run's work table, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text,'
        ' survivor_key text, member_key text)';
    -- key order is the key type's (10 after 9), not the text's
    EXECUTE format('SELECT array_agg(l.k ORDER BY l.k::%s) FROM unnest($1::text[]) AS l (k)',
        mlops.key_type_sql(p_target))
    INTO v_losers USING p_loser_keys;
    INSERT INTO mlops.merge_failures (
        run_id, target, survivor_key, loser_keys, sqlstate, message, detail, hint, rows_fingerprint, rule_fingerprint
    )
    VALUES (
        p_run_id, p_target, p_survivor_key, v_losers, p_sqlstate, p_message, nullif(p_detail, ''), nullif(p_hint, ''),
        mlops.merge_cluster_fingerprint(p_target, p_survivor_key || p_loser_keys), p_rule_fingerprint
    )
    RETURNING failure_id INTO v_failure_id;
    UPDATE pg_temp.mlops_dedup_work AS w SET status = 'failed', sqlstate = p_sqlstate
    WHERE w.seq BETWEEN p_first_seq AND p_last_seq AND w.status = 'pending';
    UPDATE mlops.dedup_runs
    SET clusters_failed = clusters_failed + 1,
        error = coalesce(error, format('cluster of survivor %s (losers %s) failed: %s', p_survivor_key,
            mlops.format_ids(v_losers), p_message)),
        error_sqlstate = coalesce(error_sqlstate, p_sqlstate)
    WHERE run_id = p_run_id;
    RETURN v_failure_id;
END;
$$;

COMMENT ON FUNCTION mlops.merge_failure_record(
    bigint, regclass, text, text[], text, text, text, text, text, bigint, bigint
) IS
'Records one cluster (survivor key, loser keys: text, any key type) of p_target that run p_run_id could not merge in '
'mlops.merge_failures (loser_keys in key order) with the error and the rows'' and rule''s fingerprints; marks its '
'pending members of seq [p_first_seq, p_last_seq] failed in pg_temp.mlops_dedup_work; counts it in the run '
'(clusters_failed; error and error_sqlstate name the first). Returns the failure_id. Internal helper of '
'mlops.merge_duplicates.';

REVOKE EXECUTE ON FUNCTION mlops.merge_failure_record(
    bigint, regclass, text, text[], text, text, text, text, text, bigint, bigint
) FROM PUBLIC;
