-- mlops.primary_key_columns: a table's primary key columns in key order, or NULL when it has none.

CREATE OR REPLACE FUNCTION mlops.primary_key_columns(p_table regclass)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT array_agg(a.attname::text ORDER BY k.ord)
        FROM pg_catalog.pg_index AS i
        CROSS JOIN LATERAL unnest(i.indkey::int2 []) WITH ORDINALITY AS k (attnum, ord)
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE i.indrelid = p_table AND i.indisprimary
    );
END;
$$;

COMMENT ON FUNCTION mlops.primary_key_columns(regclass) IS
'The primary key columns of a table in key order; NULL when the table has no primary key.';

REVOKE EXECUTE ON FUNCTION mlops.primary_key_columns(regclass) FROM PUBLIC;
