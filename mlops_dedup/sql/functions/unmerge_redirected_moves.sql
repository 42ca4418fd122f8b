-- mlops.unmerge_redirected_moves: part of undo. Rows a merge moved somewhere other than the survivor (a survivor that
-- referenced its own loser took the loser's own reference) point at their loser again, if they still hold the value
-- the merge wrote (merge_moves.moved_to); rows changed since stay as they are.

CREATE OR REPLACE FUNCTION mlops.unmerge_redirected_moves(
    p_merge_id bigint,
    p_target regclass,
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
    v_restored bigint;
BEGIN
    -- No statement without such rows: an UPDATE of no row still fires the table's statement triggers.
    IF NOT EXISTS (
        SELECT FROM mlops.merge_moves AS mv
        WHERE mv.merge_id = p_merge_id AND mv.referencing_table = p_referencing AND mv.fk_name = p_fk_name
            AND mv.moved_to IS NOT NULL
    ) THEN
        RETURN 0;
    END IF;
    EXECUTE format(
        $q$
        WITH %9$s, moved_back AS (
            UPDATE %1$s AS r SET %2$s
            FROM mlops.merge_moves AS mv
            INNER JOIN %3$s AS l ON %4$s
            WHERE mv.merge_id = $1 AND mv.referencing_table = %5$L::regclass AND mv.fk_name = %6$L
                AND mv.moved_to IS NOT NULL
                AND %7$s = mv.row_key
                AND %8$s
            RETURNING 1
        )
        SELECT count(*) FROM %10$s
        $q$,
        p_referencing,
        mlops.sql_column_pairs(p_fk_columns, p_referenced_columns, '%I = l.%I', ', '),
        p_target,
        mlops.key_match_sql(p_target, 'l', 'mv.loser_key', false),
        p_referencing,
        p_fk_name,
        mlops.row_key_sql(p_referencing),
        mlops.sql_pairs(p_fk_columns, 'coalesce(to_jsonb(r.%1$I), ''null''::jsonb) = mv.moved_to -> %1$L', ' AND '),
        mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('moved_back')
    ) INTO v_restored USING p_merge_id;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    RETURN v_restored;
END;
$$;

COMMENT ON FUNCTION mlops.unmerge_redirected_moves(bigint, regclass, regclass, text, text[], text[]) IS
'Internal, part of undo: points rows that merge p_merge_id moved to a value other than the survivor (merge_moves.'
'moved_to: a survivor that took its loser''s own reference) back at their loser, when they still hold that value; '
'returns how many.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge_redirected_moves(bigint, regclass, regclass, text, text[], text[]) FROM PUBLIC;
