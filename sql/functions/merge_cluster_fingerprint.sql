-- mlops.merge_cluster_fingerprint: an md5 over a cluster's rows of the target, in id order, so a recorded failure
-- can tell whether the cluster's rows changed since. Reads only.

CREATE OR REPLACE FUNCTION mlops.merge_cluster_fingerprint(p_target regclass, p_ids bigint[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text := mlops.integer_key_column(p_target);
    v_fingerprint text;
BEGIN
    EXECUTE format(
        'SELECT md5(coalesce(string_agg(to_jsonb(t.*)::text, E''\n'' ORDER BY t.%1$I), ''''))'
        ' FROM %2$s AS t WHERE t.%1$I = ANY ($1)',
        v_key, p_target
    ) INTO v_fingerprint USING p_ids;
    RETURN v_fingerprint;
END;
$$;

COMMENT ON FUNCTION mlops.merge_cluster_fingerprint(regclass, bigint[]) IS
'md5 (text, 32 hex digits) over the rows of p_target whose key is in p_ids, each as to_jsonb, in key order; rows '
'gone count as absent. Internal helper of mlops.merge_duplicates (mlops.merge_failures.rows_fingerprint).';

REVOKE EXECUTE ON FUNCTION mlops.merge_cluster_fingerprint(regclass, bigint[]) FROM PUBLIC;
