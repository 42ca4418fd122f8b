-- mlops.merge_repoint: one set-based UPDATE re-points every row of one FK from the losers to their survivors,
-- and the same statement records each moved row in mlops.merge_moves for undo. A survivor that references its own
-- loser (a hierarchy) takes the loser's own reference instead of itself (logged with the value written).

CREATE OR REPLACE FUNCTION mlops.merge_repoint(
    p_target regclass,
    p_key_column text,
    p_referencing regclass,
    p_fk_name text,
    p_fk_columns text[],
    p_referenced_columns text[],
    p_loser_ids text[],
    p_survivor_ids text[],
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
    v_exclude text := mlops.merge_self_exclusion_sql(p_target, p_referencing, true)
        || mlops.merge_merged_rows_stay_sql(p_referencing, p_merge_ids);
    v_hierarchy boolean := p_referencing = p_target AND p_referenced_columns = ARRAY[p_key_column]
        AND cardinality(p_fk_columns) = 1
        AND NOT EXISTS (SELECT FROM mlops.declared_reference(p_referencing, p_fk_name));
    v_set text;
    v_moved_to text := 'NULL::jsonb';
    v_join text := '';
    v_moved_from text := 'NULL::text';
    v_declared record;
    v_old text;
    v_bad text[];
    v_state text;
    v_detail text;
    v_constraint text;
    v_moved bigint;
BEGIN
    IF array_position(p_survivor_ids, NULL) IS NOT NULL THEN
        -- a reference is never set to NULL
        RAISE EXCEPTION 'cannot re-point references of % to a NULL survivor', p_referencing
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_set := mlops.reference_set_sql(p_referencing, p_fk_name, p_fk_columns, 'v.s%2$s');
    IF p_referencing = p_target THEN
        -- A survivor that references one of its own losers must not end up referencing itself.
        IF v_hierarchy THEN
            EXECUTE format('SELECT array_agg(h.survivor_id ORDER BY h.survivor_id) FROM (%s) AS h WHERE h.cycle',
                mlops.merge_hierarchy_sql(p_target, p_key_column, p_fk_columns[1]))
            INTO v_bad USING p_loser_ids, p_survivor_ids;
        ELSE
            EXECUTE format(
                'SELECT array_agg(v.survivor_id ORDER BY v.survivor_id) FROM %s AS r INNER JOIN (%s) AS v'
                ' ON %s AND %s',
                p_target, mlops.merge_mapping_sql(p_target, p_key_column, p_referenced_columns),
                mlops.key_match_sql(p_target, 'r', 'v.survivor_id', false),
                mlops.fk_match_sql(p_referencing, p_fk_name, 'r', 'v.l%1$s')
            ) INTO v_bad USING p_loser_ids, p_survivor_ids, p_merge_ids;
        END IF;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION 'cannot merge rows of %: survivor % references its own loser through % and would end up '
                'referencing itself', p_target,
                CASE WHEN cardinality(v_bad) > 5
                    THEN format('%s … (%s rows)', array_to_string(v_bad[1:5], ', '), cardinality(v_bad))
                    ELSE array_to_string(v_bad, ', ') END,
                p_fk_name
                USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = CASE WHEN v_hierarchy
                    THEN 'A survivor takes its loser''s own reference; here that chain leads back to the survivor '
                        '(a cycle), so there is no other row to reference.'
                    ELSE 'Only a one-column self reference to the key takes the loser''s own reference.' END,
                HINT = format('Set %s of the survivor to the row it should reference first, then merge.',
                    array_to_string(p_fk_columns, ', '));
        END IF;
    END IF;
    IF v_hierarchy THEN
        -- the survivor's own row takes the loser's reference; every other row the survivor
        v_join := format(' LEFT JOIN (%s) AS h ON h.survivor_id = v.survivor_id AND h.loser_id = v.loser_id',
            mlops.merge_hierarchy_sql(p_target, p_key_column, p_fk_columns[1]));
        v_set := format('%1$I = CASE WHEN %2$s THEN (h.new_ref)::%3$s ELSE v.s1 END',
            p_fk_columns[1], mlops.key_match_sql(p_target, 'r', 'h.survivor_id', false), mlops.key_type_sql(p_target));
        v_moved_to := format('CASE WHEN %1$s THEN jsonb_build_object(%2$L, (h.new_ref)::%3$s) END',
            mlops.key_match_sql(p_target, 'r', 'h.survivor_id', false), p_fk_columns[1], mlops.key_type_sql(p_target));
    END IF;
    -- A declared reference held as text (or inside a document) may spell the key otherwise: the row's value before
    -- the move (read from the same row, joined by its ctid) is logged when it differs, for undo to write back.
    SELECT d.* INTO v_declared FROM mlops.declared_reference(p_referencing, p_fk_name) AS d;
    -- So is a one-column FK to a key whose equal values spell differently (citext 'alfki' -> 'ALFKI', numeric 1.5).
    IF v_declared.id_is_text OR v_declared.json_path IS NOT NULL
        OR (v_declared.id_column IS NULL AND cardinality(p_fk_columns) = 1 AND NOT v_hierarchy
            AND NOT mlops.key_text_is_canonical(p_target)) THEN
        v_old := CASE WHEN v_declared.json_path IS NULL
            THEN format('mlops_old.%I::pg_catalog.text', coalesce(v_declared.id_column, p_fk_columns[1]))
            ELSE format('(mlops_old.%I::pg_catalog.jsonb #>> %L::pg_catalog.text[])', v_declared.id_column,
                v_declared.json_path) END;
        v_join := v_join || format(', %s AS mlops_old', p_referencing);
        v_exclude := v_exclude || ' AND mlops_old.tableoid = r.tableoid AND mlops_old.ctid = r.ctid';
        v_moved_from := CASE WHEN v_declared.json_path IS NULL
            THEN format('CASE WHEN %1$s IS DISTINCT FROM v.loser_id THEN %1$s END', v_old)
            -- inside a document: the JSON value itself (number or string, as written), always
            ELSE format('(mlops_old.%I::pg_catalog.jsonb #> %L::pg_catalog.text[])::pg_catalog.text',
                v_declared.id_column, v_declared.json_path) END;
    END IF;
    BEGIN
        EXECUTE format(
            'WITH %11$s, moved AS (UPDATE %1$s AS r SET %2$s FROM (%3$s) AS v%9$s WHERE %4$s%5$s'
            ' RETURNING v.merge_id, %6$s AS row_key, v.loser_id, %10$s AS moved_to, %13$s AS moved_from)'
            ' INSERT INTO mlops.merge_moves'
            ' (merge_id, referencing_table, fk_name, row_key, loser_key, moved_to, moved_from)'
            ' SELECT moved.merge_id, %7$L::regclass, %8$L, moved.row_key, moved.loser_id, moved.moved_to,'
            ' moved.moved_from FROM %12$s',
            p_referencing,
            v_set,
            mlops.merge_mapping_sql(p_target, p_key_column, p_referenced_columns),
            mlops.fk_match_sql(p_referencing, p_fk_name, 'r', 'v.l%1$s'),
            v_exclude, mlops.row_key_sql(p_referencing), p_referencing, p_fk_name, v_join, v_moved_to,
            mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('moved'), v_moved_from
        ) USING p_loser_ids, p_survivor_ids, p_merge_ids;
        GET DIAGNOSTICS v_moved = ROW_COUNT;
    EXCEPTION
        WHEN unique_violation OR exclusion_violation THEN
            -- The collisions were planned on the rows as they were: a row inserted or changed since by another
            -- transaction (one referencing a survivor: its lock lets such inserts go on) collides now, or (a case
            -- the plan does not foresee) a row of this same merge. The SQLSTATE stays: a retry plans again, and
            -- merge_duplicates, after its retries, isolates and records a cluster that keeps failing.
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL,
                v_constraint = CONSTRAINT_NAME;
            RAISE EXCEPTION 'cannot re-point % of % to the survivors: the rows would collide on %', p_fk_name,
                p_referencing, v_constraint
                USING ERRCODE = v_state,
                DETAIL = coalesce(v_detail || ' ', '') || 'Nothing was merged; the whole merge is rolled back.',
                HINT = 'If a row was inserted meanwhile, retry the merge (its collisions are planned again); if it '
                    'keeps failing, merge these clusters one at a time, or declare a conflict policy for the table.';
        WHEN foreign_key_violation THEN
            -- The moved rows' own key contains the FK columns and other rows reference that key through an FK that
            -- does not follow an update (enrolment (student_id, course_id) <- grade, ON UPDATE NO ACTION).
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_detail = PG_EXCEPTION_DETAIL,
                v_constraint = CONSTRAINT_NAME;
            RAISE EXCEPTION 'cannot re-point % of % to the survivors: other rows reference the moved rows'' key '
                'through %, which does not follow the change', p_fk_name, p_referencing, v_constraint
                USING ERRCODE = v_state,
                DETAIL = coalesce(v_detail || ' ', '') || 'Nothing was merged; the whole merge is rolled back.',
                HINT = format('Make %s ON UPDATE CASCADE, so the rows that reference %s follow the re-point.',
                    v_constraint, p_referencing);
    END;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    RETURN v_moved;
END;
$$;

COMMENT ON FUNCTION mlops.merge_repoint(
    regclass, text, regclass, text, text[], text[], text[], text[], bigint[]
) IS
'Re-points the rows of one FK from losers to survivors in one UPDATE (the survivor''s values of the referenced '
'columns) and logs every moved row in mlops.merge_moves; returns the number of rows moved. Self reference: a '
'survivor that referenced its own loser takes the loser''s own reference (mlops.merge_hierarchy_sql, logged in '
'merge_moves.moved_to); a chain that leads back to the survivor, or a composite self reference, is refused (55000). '
'A row that collides all the same (inserted meanwhile) raises its own SQLSTATE (23505, 23P01) naming the FK; a NULL '
'survivor key 22004. Losers and survivors are canonical key texts (mlops.key_texts).';

REVOKE EXECUTE ON FUNCTION mlops.merge_repoint(
    regclass, text, regclass, text, text[], text[], text[], text[], bigint[]
) FROM PUBLIC;
