-- mlops.key_base_type: the type of a table's key column, or for a domain its base type (domains over domains too).

CREATE OR REPLACE FUNCTION mlops.key_base_type(p_table regclass)
RETURNS regtype
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_type oid;
    v_kind "char";
BEGIN
    -- one catalog query for the usual key; a domain walks down to its base type (domains over domains too)
    SELECT a.atttypid, t.typtype INTO v_type, v_kind
    FROM pg_catalog.pg_index AS i
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    INNER JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    WHERE i.indrelid = p_table AND i.indisprimary AND i.indnatts = 1;
    WHILE v_kind = 'd' LOOP
        SELECT t.typbasetype, b.typtype INTO v_type, v_kind
        FROM pg_catalog.pg_type AS t INNER JOIN pg_catalog.pg_type AS b ON b.oid = t.typbasetype
        WHERE t.oid = v_type;
    END LOOP;
    RETURN v_type::regtype;
END;
$$;

COMMENT ON FUNCTION mlops.key_base_type(regclass) IS
'Internal: the key column''s type (mlops.key_column), or the base type of a domain; NULL for a table without a '
'single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_base_type(regclass) FROM PUBLIC;
