-- mlops.unmerge_archived_moves: part of undo. A row this merge re-pointed may since have been merged away by another
-- merge (a batch merges clusters that reference each other): its archived copy gets the loser's key back, so the
-- row comes back as it was whichever of the two merges is undone last.

CREATE OR REPLACE FUNCTION mlops.unmerge_archived_moves(
    p_merge_id bigint,
    p_target regclass,
    p_survivor_key text,
    p_referencing regclass,
    p_fk_name text,
    p_fk_columns text[],
    p_referenced_columns text[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_patched bigint;
BEGIN
    EXECUTE format(
        $q$
        UPDATE mlops.merge_archive AS a SET row_data = a.row_data || jsonb_build_object(%1$s)
        FROM mlops.merge_moves AS mv
        INNER JOIN %2$s AS l ON %3$s
        INNER JOIN %2$s AS s ON %7$s
        WHERE mv.merge_id = $1 AND mv.referencing_table = %4$L::regclass AND mv.fk_name = %5$L
            AND a.target = mv.referencing_table
            AND a.row_data @> mv.row_key
            AND %6$s
            AND EXISTS (SELECT FROM mlops.merges AS m WHERE m.merge_id = a.merge_id AND m.undone_at IS NULL)
        $q$,
        mlops.sql_column_pairs(p_fk_columns, p_referenced_columns, '%L, l.%I', ', '),
        p_target,
        mlops.key_match_sql(p_target, 'l', 'mv.loser_key', false),
        p_referencing,
        p_fk_name,
        -- the archived copy still points at the survivor
        mlops.sql_column_pairs(p_fk_columns, p_referenced_columns, 'a.row_data -> %L = to_jsonb(s.%I)', ' AND '),
        mlops.key_match_sql(p_target, 's', '$2', false)
    ) USING p_merge_id, p_survivor_key;
    GET DIAGNOSTICS v_patched = ROW_COUNT;
    RETURN v_patched;
END;
$$;

COMMENT ON FUNCTION mlops.unmerge_archived_moves(
    bigint, regclass, text, regclass, text, text[], text[]
) IS
'Internal, part of undo: points the archived copies of rows this merge moved (and another merge archived since) '
'back at their losers; returns how many archived rows were corrected.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge_archived_moves(
    bigint, regclass, text, regclass, text, text[], text[]
) FROM PUBLIC;
