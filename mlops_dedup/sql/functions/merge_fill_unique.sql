-- mlops.merge_fill_unique: fill_nulls for columns under a unique index or exclusion constraint. A loser holds its
-- value until it is deleted, so: after the delete, a plain one-column unique column takes the value from the
-- loser's archive copy; with soft delete (losers keep their values), and for multi-column, partial, expression or
-- exclusion constraints, the column is skipped and reported (NOTICE, mlops.merges.fill_skipped).

CREATE OR REPLACE FUNCTION mlops.merge_fill_unique(
    p_target regclass,
    p_key_column text,
    p_loser_ids text[],
    p_survivor_ids text[],
    p_merge_ids bigint[],
    p_soft_delete boolean
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_free text[];
    v_skipped text[];
    v_filled bigint := 0;
BEGIN
    SELECT
        array_agg(u.column_name ORDER BY a.attnum) FILTER (WHERE u.single_plain AND NOT p_soft_delete),
        array_agg(u.column_name ORDER BY a.attnum) FILTER (WHERE NOT (u.single_plain AND NOT p_soft_delete))
    INTO v_free, v_skipped
    FROM mlops.merge_unique_columns(p_target) AS u
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p_target AND a.attname = u.column_name
    WHERE a.attgenerated = '' AND a.attidentity = ''
        AND u.column_name NOT IN (p_key_column, 'deleted_at', 'merged_into');
    -- Soft delete: called before the losers are marked, their rows are read; hard delete: called after the
    -- delete, their archive copies are read.
    IF v_free IS NOT NULL THEN
        v_filled := mlops.merge_fill_columns(p_target, p_key_column, v_free, p_loser_ids, p_survivor_ids,
            p_merge_ids, true, true);
    END IF;
    PERFORM mlops.merge_fill_columns(p_target, p_key_column, v_skipped, p_loser_ids, p_survivor_ids, p_merge_ids,
        NOT p_soft_delete, false);
    RETURN v_filled;
END;
$$;

COMMENT ON FUNCTION mlops.merge_fill_unique(regclass, text, text[], text[], bigint[], boolean) IS
'Internal, part of a merge with fill_nulls: survivor columns under a plain one-column unique index take the first '
'loser value from the archive once the losers are deleted (call it after the delete); with p_soft_delete (call it '
'before the losers are marked), and for columns of multi-column, partial, expression or exclusion constraints, '
'they are left NULL and listed in mlops.merges.fill_skipped with a NOTICE. Returns the number of survivors filled.';

REVOKE EXECUTE ON FUNCTION mlops.merge_fill_unique(regclass, text, text[], text[], bigint[], boolean) FROM PUBLIC;
