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
    v_key_columns text[] := mlops.primary_key_columns(p_referencing);
    v_row_key text;
    v_exclude text := '';
    v_moved bigint;
BEGIN
    -- A row is found again by its primary key; without one, by its whole content after the move.
    v_row_key := CASE WHEN v_key_columns IS NULL THEN 'to_jsonb(r)'
        ELSE format('jsonb_build_object(%s)', mlops.sql_pairs(v_key_columns, '%1$L, r.%1$I', ', ')) END;
    IF p_referencing = p_target THEN
        v_exclude := format(' AND r.%I <> ALL ($1)', p_key_column);
    END IF;
    EXECUTE format(
        'WITH moved AS (UPDATE %1$s AS r SET %2$s FROM (%3$s) AS v WHERE %4$s%5$s'
        ' RETURNING v.merge_id, %6$s AS row_key, v.loser_id)'
        ' INSERT INTO mlops.merge_moves (merge_id, referencing_table, fk_name, row_key, loser_id)'
        ' SELECT moved.merge_id, %7$L::regclass, %8$L, moved.row_key, moved.loser_id FROM moved',
        p_referencing,
        mlops.sql_pairs(p_fk_columns, '%1$I = v.s%2$s', ', '),
        mlops.merge_mapping_sql(p_target, p_key_column, p_referenced_columns),
        mlops.sql_pairs(p_fk_columns, 'r.%1$I = v.l%2$s', ' AND '),
        v_exclude, v_row_key, p_referencing, p_fk_name
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
