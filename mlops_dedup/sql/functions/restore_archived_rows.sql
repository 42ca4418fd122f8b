-- mlops.restore_archived_rows: puts the rows a merge archived from one table back, with their exact original values
-- (keys of any type and identity columns included; json text, floats, array bounds, ... from the archived text) and
-- into the inheritance child they lived in; returns how many.

CREATE OR REPLACE FUNCTION mlops.restore_archived_rows(p_merge_id bigint, p_table regclass)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_source record;
    v_columns text[];
    v_count bigint;
    v_restored bigint := 0;
    v_detail text;
    v_constraint text;
BEGIN
    FOR v_source IN
        SELECT DISTINCT a.source_table FROM mlops.merge_archive AS a
        WHERE a.merge_id = p_merge_id AND a.target = p_table
        ORDER BY a.source_table NULLS FIRST
    LOOP
        IF v_source.source_table IS NOT NULL
            AND NOT EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = v_source.source_table) THEN
            RAISE EXCEPTION 'cannot undo merge %: rows of % lived in its inheritance child (oid %), which no longer '
                'exists', p_merge_id, p_table, v_source.source_table::oid
                USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Their archived copies stay in mlops.merge_archive (source_table).';
        END IF;
        -- Generated columns are computed again; every other column takes its archived value.
        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_columns
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = coalesce(v_source.source_table, p_table) AND a.attnum > 0 AND NOT a.attisdropped
            AND a.attgenerated = '';
        BEGIN
            EXECUTE format(
                'WITH %4$s, restored AS (INSERT INTO %1$s (%2$s) OVERRIDING SYSTEM VALUE'
                ' SELECT %3$s FROM mlops.merge_archive AS a'
                ' CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, a.row_data) AS x'
                ' WHERE a.merge_id = $1 AND a.target = $2 AND a.source_table IS NOT DISTINCT FROM $3'
                ' ORDER BY a.archive_id RETURNING 1)'
                ' SELECT count(*) FROM %5$s',
                coalesce(v_source.source_table, p_table),
                mlops.sql_pairs(v_columns, '%1$I', ', '),
                (
                    SELECT string_agg(mlops.archive_value_sql(coalesce(v_source.source_table, p_table), c.col), ', '
                        ORDER BY c.ord)
                    FROM unnest(v_columns) WITH ORDINALITY AS c (col, ord)
                ),
                mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('restored')
            ) INTO v_count USING p_merge_id, p_table, v_source.source_table;
        EXCEPTION
            WHEN unique_violation OR exclusion_violation THEN
                -- the merged row's id or a unique value of it was taken by a row written since the merge
                GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_constraint = CONSTRAINT_NAME;
                RAISE EXCEPTION 'cannot undo merge %: a row of % written since the merge holds a value of a merged row '
                    '(constraint %)', p_merge_id, coalesce(v_source.source_table, p_table), v_constraint
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = v_detail || ' Nothing was changed.',
                    HINT = 'The key or a unique value of a merged row was reused: change or merge that newer row '
                        'first, then undo.';
            WHEN foreign_key_violation THEN
                -- a row the archived row references was deleted since (the merge had made that delete possible)
                GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_constraint = CONSTRAINT_NAME;
                RAISE EXCEPTION 'cannot undo merge %: a merged row of % references a row deleted since (foreign key %)',
                    p_merge_id, coalesce(v_source.source_table, p_table), v_constraint
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = v_detail || ' Nothing was changed.',
                    HINT = 'Restore the referenced row first, then undo.';
        END;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
        v_restored := v_restored + v_count;
    END LOOP;
    RETURN v_restored;
END;
$$;

COMMENT ON FUNCTION mlops.restore_archived_rows(bigint, regclass) IS
'Internal: re-inserts the rows merge p_merge_id archived from p_table, original keys and exact values included, a '
'row that lived in an inheritance child into that child; returns how many. 55000 when the child is gone, when a row '
'written since holds a restored row''s key or unique value, or when a row a restored row references was deleted '
'since (nothing restored).';

REVOKE EXECUTE ON FUNCTION mlops.restore_archived_rows(bigint, regclass) FROM PUBLIC;
