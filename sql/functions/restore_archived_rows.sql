-- mlops.restore_archived_rows: puts the rows a merge archived from one table back, with their original values
-- (identity columns included); returns how many.

CREATE OR REPLACE FUNCTION mlops.restore_archived_rows(p_merge_id bigint, p_table regclass)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_columns text[];
    v_restored bigint;
BEGIN
    -- Generated columns are computed again; every other column takes its archived value.
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_columns
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
    EXECUTE format(
        'INSERT INTO %1$s (%2$s) OVERRIDING SYSTEM VALUE'
        ' SELECT %3$s FROM mlops.merge_archive AS a'
        ' CROSS JOIN LATERAL jsonb_populate_record(NULL::%1$s, a.row_data) AS x'
        ' WHERE a.merge_id = $1 AND a.target = $2 ORDER BY a.archive_id',
        p_table,
        mlops.sql_pairs(v_columns, '%1$I', ', '),
        mlops.sql_pairs(v_columns, 'x.%1$I', ', ')
    ) USING p_merge_id, p_table;
    GET DIAGNOSTICS v_restored = ROW_COUNT;
    RETURN v_restored;
END;
$$;

COMMENT ON FUNCTION mlops.restore_archived_rows(bigint, regclass) IS
'Internal: re-inserts the rows merge p_merge_id archived from p_table, original ids and values included.';

REVOKE EXECUTE ON FUNCTION mlops.restore_archived_rows(bigint, regclass) FROM PUBLIC;
