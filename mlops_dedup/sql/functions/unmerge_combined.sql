-- mlops.unmerge_combined: undo of the combine policy's step of one merge: each twin whose values the merge combined
-- gets its old values back, column by column, where the value is still the one the merge gave it.

CREATE OR REPLACE FUNCTION mlops.unmerge_combined(p_merge_id bigint)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_entry record;
    v_table regclass;
    v_key_columns text[];
    v_columns text[];
    v_key_match text;
    v_changed text[];
    v_count bigint;
    v_restored bigint := 0;
BEGIN
    FOR v_entry IN
        SELECT e.value AS entry
        FROM mlops.merges AS m CROSS JOIN LATERAL jsonb_array_elements(m.combined) AS e
        WHERE m.merge_id = p_merge_id
    LOOP
        v_table := (v_entry.entry ->> 'relid')::oid::regclass;
        v_key_columns := mlops.primary_key_columns(v_table);
        SELECT array_agg(k ORDER BY k) INTO v_columns FROM jsonb_object_keys(v_entry.entry -> 'columns') AS k;
        IF v_key_columns IS NULL OR EXISTS (
            SELECT FROM unnest(v_key_columns || v_columns) AS c (col)
            WHERE NOT EXISTS (
                SELECT FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = v_table AND a.attname = c.col AND a.attnum > 0 AND NOT a.attisdropped
            )
        ) THEN
            RAISE EXCEPTION 'cannot undo merge %: the combined values of a row of % cannot be written back, its '
                'primary key or a combined column changed', p_merge_id, v_table
                USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = format('Row %s, columns %s.', v_entry.entry -> 'row_key', v_entry.entry -> 'columns');
        END IF;
        -- Find the twin by its primary key (index-friendly), write back each column still holding the new value.
        -- A single-column key compares with its own equality operator (citext's is not on the pinned path).
        IF cardinality(v_key_columns) = 1 THEN
            v_key_match := mlops.key_match_sql(v_table, 'r', format('$1 ->> %L', v_key_columns[1]), false);
        ELSE
            SELECT string_agg(format('r.%1$I = ($1 ->> %1$L)::%2$s', a.attname, format_type(a.atttypid, a.atttypmod)),
                ' AND ' ORDER BY a.attname)
            INTO v_key_match
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = v_table AND a.attname = ANY (v_key_columns) AND NOT a.attisdropped;
        END IF;
        -- Columns changed since the merge keep their value: say which.
        EXECUTE format('SELECT array_remove(ARRAY[%s], NULL) FROM %s AS r WHERE %s',
            mlops.sql_pairs(v_columns,
                'CASE WHEN mlops.archive_text(r.%1$I) IS DISTINCT FROM ($2 -> %1$L ->> ''new'') THEN %1$L END', ', '),
            v_table, v_key_match
        ) INTO v_changed USING v_entry.entry -> 'row_key', v_entry.entry -> 'columns';
        EXECUTE format(
            'WITH %5$s, written_back AS (UPDATE %1$s AS r SET %2$s WHERE %3$s AND (%4$s) RETURNING 1)'
            ' SELECT count(*) FROM %6$s',
            v_table,
            (
                SELECT string_agg(format(
                    '%1$I = CASE WHEN mlops.archive_text(r.%1$I) IS NOT DISTINCT FROM ($2 -> %1$L ->> ''new'')'
                    ' THEN ($2 -> %1$L ->> ''old'')::%2$s ELSE r.%1$I END',
                    a.attname, format_type(a.atttypid, a.atttypmod)
                ), ', ' ORDER BY a.attname)
                FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = v_table AND a.attname = ANY (v_columns) AND NOT a.attisdropped
            ),
            v_key_match,
            mlops.sql_pairs(v_columns,
                'mlops.archive_text(r.%1$I) IS NOT DISTINCT FROM ($2 -> %1$L ->> ''new'')', ' OR '),
            mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('written_back')
        ) INTO v_count USING v_entry.entry -> 'row_key', v_entry.entry -> 'columns';
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
        IF v_count = 0 THEN
            RAISE NOTICE 'undo of merge %: row % of % was changed or deleted since; its combined values stay',
                p_merge_id, v_entry.entry -> 'row_key', v_table;
        ELSIF cardinality(v_changed) > 0 THEN
            RAISE NOTICE 'undo of merge %: column(s) % of row % of % were changed since and keep their values',
                p_merge_id, array_to_string(v_changed, ', '), v_entry.entry -> 'row_key', v_table;
        END IF;
        v_restored := v_restored + v_count;
    END LOOP;
    RETURN v_restored;
END;
$$;

COMMENT ON FUNCTION mlops.unmerge_combined(bigint) IS
'Internal, part of undo: for each twin in mlops.merges.combined of the merge, found by its primary key, writes back '
'the old value of every combined column that still holds the value the merge gave it (a NOTICE for a twin changed '
'or deleted since). Raises 55000 when the twin''s table lost its primary key or a combined column. Returns the rows '
'restored.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge_combined(bigint) FROM PUBLIC;
