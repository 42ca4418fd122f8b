-- mlops.find_duplicates: read-only preview of what a merge of the table would do: one row per member that would
-- be merged away, with its survivor, why and how similar.

CREATE OR REPLACE FUNCTION mlops.find_duplicates(p_target regclass)
RETURNS TABLE (cluster_id bigint, survivor_id bigint, member_id bigint, reason text, score real)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- the session temp tables, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_members (cluster_id bigint, survivor_id bigint, member_id bigint,'
        ' reason text, score real, rnk bigint)';
    PERFORM mlops.dedup_detect(p_target);
    RETURN QUERY EXECUTE
        'SELECT m.cluster_id, m.survivor_id, m.member_id, m.reason, m.score FROM pg_temp.mlops_dedup_members AS m'
        ' ORDER BY m.cluster_id, m.rnk';
END;
$$;

COMMENT ON FUNCTION mlops.find_duplicates(regclass) IS
'Clusters a merge of the table would make, by its dedup rule: (cluster_id, survivor_id, member_id, reason, score), '
'one row per member merged away. Every member matches its own survivor directly at or above the threshold. '
'Changes no table (its scratch tables are session temp tables).';

REVOKE EXECUTE ON FUNCTION mlops.find_duplicates(regclass) FROM PUBLIC;
