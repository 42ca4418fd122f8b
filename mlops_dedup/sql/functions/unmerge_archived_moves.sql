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
    v_declared record;
    v_values text;
BEGIN
    -- The loser's values, as the archived copy's columns hold them: an FK's columns take the loser's referenced
    -- columns; a declared reference's id column the loser's key cast to its type, or, inside a json document, the
    -- key at its path (a number stays a number: as mlops.reference_set_sql writes it).
    SELECT d.* INTO v_declared FROM mlops.declared_reference(p_referencing, p_fk_name) AS d;
    IF v_declared.id_column IS NULL THEN
        v_values := mlops.sql_column_pairs(p_fk_columns, p_referenced_columns, '%L, to_jsonb(l.%I)', ', ');
    ELSIF v_declared.json_path IS NULL THEN
        v_values := format('%L, to_jsonb((l.%I)::%s)', v_declared.id_column, mlops.key_column(p_target),
            v_declared.id_type);
    ELSE
        v_values := format(
            '%1$L, jsonb_set(a.row_data -> %1$L, %2$L::text[], CASE WHEN'
            ' jsonb_typeof(a.row_data -> %1$L #> %2$L::text[]) = ''number'' THEN to_jsonb((%3$s)::numeric)'
            ' ELSE to_jsonb(%3$s) END)',
            v_declared.id_column, v_declared.json_path,
            mlops.key_text_sql(p_target, format('l.%I', mlops.key_column(p_target)))
        );
    END IF;
    EXECUTE format(
        $q$
        UPDATE mlops.merge_archive AS a SET row_data = a.row_data || jsonb_build_object(%1$s)
        FROM mlops.merge_moves AS mv
        INNER JOIN %2$s AS l ON %3$s
        INNER JOIN %2$s AS s ON %7$s
        WHERE mv.merge_id = $1 AND mv.referencing_table = %4$L::regclass AND mv.fk_name = %5$L
            AND a.target = mv.referencing_table
            AND a.row_data @> mv.row_key
            AND EXISTS (SELECT FROM jsonb_populate_record(NULL::%4$s, a.row_data) AS x WHERE %6$s)
            AND EXISTS (SELECT FROM mlops.merges AS m WHERE m.merge_id = a.merge_id AND m.undone_at IS NULL)
        $q$,
        v_values,
        p_target,
        mlops.key_match_sql(p_target, 'l', 'mv.loser_key', false),
        p_referencing,
        p_fk_name,
        -- the archived copy still points at the survivor, as the reference compares (its operators, its type
        -- column, its json path)
        mlops.fk_match_sql(p_referencing, p_fk_name, 'x', 's.%2$I'),
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
'back at their losers, through an FK or a declared reference (plain, polymorphic, json path); returns how many '
'archived rows were corrected.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge_archived_moves(
    bigint, regclass, text, regclass, text, text[], text[]
) FROM PUBLIC;
