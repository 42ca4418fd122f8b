-- mlops.merge_cluster_fingerprint: an md5 over a cluster's rows of the target, in key order, so a recorded failure
-- can tell whether the cluster's rows changed since. Keys are text (any key type). Reads only.

CREATE OR REPLACE FUNCTION mlops.merge_cluster_fingerprint(p_target regclass, p_keys text[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text := mlops.key_column(p_target);
    v_fingerprint text;
BEGIN
    EXECUTE format(
        'SELECT md5(coalesce(string_agg(to_jsonb(t.*)::text, E''\n'' ORDER BY t.%1$I), ''''))'
        ' FROM %2$s AS t WHERE %3$s',
        v_key, p_target, mlops.key_match_sql(p_target, 't', '$1')
    ) INTO v_fingerprint USING p_keys;
    RETURN v_fingerprint;
END;
$$;

COMMENT ON FUNCTION mlops.merge_cluster_fingerprint(regclass, text[]) IS
'md5 (text, 32 hex digits) over the rows of p_target whose key is one of p_keys (keys as text, matched with the key''s '
'own equality), each as to_jsonb, in key order; rows gone count as absent. A table without a single-column primary '
'key: 0A000. Internal helper of mlops.merge_duplicates (mlops.merge_failures.rows_fingerprint).';

REVOKE EXECUTE ON FUNCTION mlops.merge_cluster_fingerprint(regclass, text[]) FROM PUBLIC;
