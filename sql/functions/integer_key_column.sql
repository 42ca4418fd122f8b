-- mlops.integer_key_column: the one column of a single-column smallint/integer/bigint primary key, else NULL.
-- Rows can be merged only in tables keyed this way.

CREATE OR REPLACE FUNCTION mlops.integer_key_column(p_table regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_columns text[] := mlops.primary_key_columns(p_table);
BEGIN
    IF cardinality(v_columns) = 1 AND EXISTS (
        SELECT
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table
            AND a.attname = v_columns[1]
            AND a.atttypid IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype)
    ) THEN
        RETURN v_columns[1];
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.integer_key_column(regclass) IS
'Name of the primary key column when the primary key is one smallint, integer or bigint column; NULL otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.integer_key_column(regclass) FROM PUBLIC;
