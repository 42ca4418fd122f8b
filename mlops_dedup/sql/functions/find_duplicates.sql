-- mlops.find_duplicates: read-only preview of what a merge of the table would do: one row per member that would
-- be merged away, with its survivor, why and how similar. Keys of any type come as text (survivor_key, member_key);
-- survivor_id and member_id repeat them as bigint when the key is an integer, and are NULL otherwise.

CREATE OR REPLACE FUNCTION mlops.find_duplicates(p_target regclass)
RETURNS TABLE (
    cluster_id bigint, survivor_id bigint, member_id bigint, reason text, score real, survivor_key text,
    member_key text
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for a second what runs in milliseconds (scratch tables' row estimates are rough)
SET jit = off
AS $$
BEGIN
    -- the session temp tables, declared for plpgsql_check (a constant string: a no-op at run time)
    PERFORM 'PRAGMA:TABLE: mlops_dedup_members (cluster_id bigint, survivor_id bigint, member_id bigint,'
        ' reason text, score real, rnk bigint, survivor_key text, member_key text)';
    PERFORM mlops.dedup_detect(p_target);
    -- detection numbers the rows of a non-integer key by key order: those numbers are not ids, so they stay inside
    RETURN QUERY EXECUTE
        'SELECT m.cluster_id, CASE WHEN $1 THEN m.survivor_id END, CASE WHEN $1 THEN m.member_id END, m.reason,'
        ' m.score, m.survivor_key, m.member_key FROM pg_temp.mlops_dedup_members AS m ORDER BY m.cluster_id, m.rnk'
        USING mlops.key_is_integer(p_target);
END;
$$;

COMMENT ON FUNCTION mlops.find_duplicates(regclass) IS
'Clusters a merge of the table would make, by its dedup rule: (cluster_id, survivor_id, member_id, reason, score, '
'survivor_key, member_key), one row per member merged away, in cluster order and keep_order within. Keys are the '
'key type''s text (any single-column primary key: uuid, text, numeric, …; cast back with ::<key type>); '
'survivor_id and member_id are the same keys as bigint for an integer key, NULL otherwise. Every member matches its '
'own survivor directly at or above the threshold. Changes no table (its scratch tables are session temp tables). '
'Errors: no rule 42704, a table without a single-column primary key 0A000.';

REVOKE EXECUTE ON FUNCTION mlops.find_duplicates(regclass) FROM PUBLIC;
