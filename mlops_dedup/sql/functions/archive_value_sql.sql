-- mlops.archive_value_sql: the SQL expression that reads one column of an archived row back with its exact value:
-- the archived text where it still holds the value of row_data (undo may have corrected row_data since), else
-- row_data's value. Over aliases a (mlops.merge_archive) and x (jsonb_populate_record of the table from a.row_data).

CREATE OR REPLACE FUNCTION mlops.archive_value_sql(p_table regclass, p_column text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_type text;
BEGIN
    SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) INTO v_type
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attname = p_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_type IS NULL OR NOT (p_column = ANY (coalesce(mlops.archive_exact_columns(p_table), '{}'))) THEN
        RETURN format('x.%I', p_column);
    END IF;
    RETURN format(
        'CASE WHEN a.row_text ? %1$L AND to_jsonb((a.row_text ->> %1$L)::%2$s) = a.row_data -> %1$L'
        ' THEN (a.row_text ->> %1$L)::%2$s ELSE x.%3$I END',
        p_column, v_type, p_column
    );
END;
$$;

COMMENT ON FUNCTION mlops.archive_value_sql(regclass, text) IS
'Internal SQL builder: expression for column p_column of an archived row of p_table (aliases a: merge_archive, x: '
'jsonb_populate_record(NULL::p_table, a.row_data)): the exact archived text while row_data still holds that value.';

REVOKE EXECUTE ON FUNCTION mlops.archive_value_sql(regclass, text) FROM PUBLIC;
