-- mlops.merge_merged_rows_stay_sql: in a merge that soft-deletes, the rows of a referencing table that were
-- themselves merged away by soft delete (merged_into set) stay as they are: their loser stays in place too, so the
-- reference is still valid, and undo revives them as they were. Re-pointing them would make them collide with the
-- twin they were merged into. Empty (every row moves) when the merge deletes its losers, or when the referencing
-- table has no soft-delete columns.

CREATE OR REPLACE FUNCTION mlops.merge_merged_rows_stay_sql(p_referencing regclass, p_merge_ids bigint[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF mlops.has_soft_delete_columns(p_referencing)
        AND EXISTS (SELECT FROM mlops.merges AS m WHERE m.merge_id = ANY (p_merge_ids) AND m.soft_deleted) THEN
        RETURN ' AND r.merged_into IS NULL';
    END IF;
    RETURN '';
END;
$$;

COMMENT ON FUNCTION mlops.merge_merged_rows_stay_sql(regclass, bigint[]) IS
'Internal: SQL condition over alias r that leaves rows merged away by soft delete (merged_into set) out of a '
'soft-deleting merge''s re-point, collision planning and delete gate; empty when the merges (p_merge_ids) delete '
'their losers or the table has no deleted_at/merged_into columns.';

REVOKE EXECUTE ON FUNCTION mlops.merge_merged_rows_stay_sql(regclass, bigint[]) FROM PUBLIC;
