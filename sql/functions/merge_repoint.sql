-- mlops.merge_repoint: one set-based UPDATE re-points every row of one FK from the losers to their survivors,
-- and the same statement records each moved row in mlops.merge_moves for undo.

CREATE OR REPLACE FUNCTION mlops.merge_repoint(
    p_target regclass,
    p_key_column text,
    p_referencing regclass,
    p_fk_name text,
    p_fk_columns text[],
    p_referenced_columns text[],
    p_loser_ids bigint[],
    p_survivor_ids bigint[],
    p_merge_ids bigint[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- cross-cluster loser references move too, so each merge of a batch undoes on its own
    v_exclude text := mlops.merge_self_exclusion_sql(p_target, p_referencing, p_key_column, true);
    v_moved bigint;
BEGIN
    EXECUTE format(
        'WITH moved AS (UPDATE %1$s AS r SET %2$s FROM (%3$s) AS v WHERE %4$s%5$s'
        ' RETURNING v.merge_id, %6$s AS row_key, v.loser_id)'
        ' INSERT INTO mlops.merge_moves (merge_id, referencing_table, fk_name, row_key, loser_id)'
        ' SELECT moved.merge_id, %7$L::regclass, %8$L, moved.row_key, moved.loser_id FROM moved',
        p_referencing,
        mlops.sql_pairs(p_fk_columns, '%1$I = v.s%2$s', ', '),
        mlops.merge_mapping_sql(p_target, p_key_column, p_referenced_columns),
        mlops.sql_pairs(p_fk_columns, 'r.%1$I = v.l%2$s', ' AND '),
        v_exclude, mlops.row_key_sql(p_referencing), p_referencing, p_fk_name
    ) USING p_loser_ids, p_survivor_ids, p_merge_ids;
    GET DIAGNOSTICS v_moved = ROW_COUNT;
    RETURN v_moved;
END;
$$;

COMMENT ON FUNCTION mlops.merge_repoint(
    regclass, text, regclass, text, text[], text[], bigint[], bigint[], bigint[]
) IS
'Re-points the rows of one FK from losers to survivors in one UPDATE (the survivor''s values of the referenced '
'columns) and logs every moved row in mlops.merge_moves; returns the number of rows moved.';

REVOKE EXECUTE ON FUNCTION mlops.merge_repoint(
    regclass, text, regclass, text, text[], text[], bigint[], bigint[], bigint[]
) FROM PUBLIC;
