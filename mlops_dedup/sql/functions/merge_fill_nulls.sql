-- mlops.merge_fill_nulls: survivor columns that are NULL take the first non-NULL value of their losers, in the
-- order the losers were given, for every type; columns under a unique index or exclusion constraint are left to
-- mlops.merge_fill_unique (the losers still hold their values here). What was filled is recorded for undo.

CREATE OR REPLACE FUNCTION mlops.merge_fill_nulls(
    p_target regclass, p_key_column text, p_loser_ids text[], p_survivor_ids text[], p_merge_ids bigint[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_columns text[];
BEGIN
    -- Not the key, not generated or identity columns, not the soft-delete markers, not unique columns.
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_columns
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_target
        AND a.attnum > 0
        AND NOT a.attisdropped
        AND a.attgenerated = ''
        AND a.attidentity = ''
        AND a.attname::text NOT IN (p_key_column, 'deleted_at', 'merged_into')
        AND a.attname::text NOT IN (SELECT u.column_name FROM mlops.merge_unique_columns(p_target) AS u);
    RETURN mlops.merge_fill_columns(p_target, p_key_column, v_columns, p_loser_ids, p_survivor_ids, p_merge_ids,
        false, true);
END;
$$;

COMMENT ON FUNCTION mlops.merge_fill_nulls(regclass, text, text[], text[], bigint[]) IS
'Fills survivor columns that are NULL with the first non-NULL value of the losers (in the order given; any type: '
'arrays, bytea, json, jsonb, domains, enums, composites) and records them in mlops.merges.filled and filled_text; '
'columns a unique index or exclusion constraint involves are left to mlops.merge_fill_unique. Returns the number of '
'survivors changed.';

REVOKE EXECUTE ON FUNCTION mlops.merge_fill_nulls(regclass, text, text[], text[], bigint[]) FROM PUBLIC;
