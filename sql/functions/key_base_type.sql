-- mlops.key_base_type: the type of a table's key column, or for a domain its base type (domains over domains too).

CREATE OR REPLACE FUNCTION mlops.key_base_type(p_table regclass)
RETURNS regtype
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
    WITH RECURSIVE key_type AS (
        SELECT a.atttypid AS typ, 0 AS depth
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname = mlops.key_column(p_table)
        UNION ALL
        SELECT t.typbasetype, k.depth + 1
        FROM pg_catalog.pg_type AS t INNER JOIN key_type AS k ON t.oid = k.typ
        WHERE t.typtype = 'd'
    )
    SELECT k.typ::regtype FROM key_type AS k ORDER BY k.depth DESC LIMIT 1
    );
END;
$$;

COMMENT ON FUNCTION mlops.key_base_type(regclass) IS
'Internal: the key column''s type (mlops.key_column), or the base type of a domain; NULL for a table without a '
'single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_base_type(regclass) FROM PUBLIC;
