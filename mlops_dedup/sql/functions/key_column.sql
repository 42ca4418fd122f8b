-- mlops.key_column: the column rows of a table are merged by: its single-column primary key, of any type (a
-- primary key is a btree index, so its type has btree equality); NULL for a table without one or with a composite
-- key (mlops.key_refusal says why).

CREATE OR REPLACE FUNCTION mlops.key_column(p_table regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- one catalog query (every key builder asks this, many times per merge)
    RETURN (
        SELECT a.attname::text
        FROM pg_catalog.pg_index AS i
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = p_table AND i.indisprimary AND i.indnatts = 1
    );
END;
$$;

COMMENT ON FUNCTION mlops.key_column(regclass) IS
'Internal: name of the primary key column when the primary key has exactly one column (any type); NULL otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.key_column(regclass) FROM PUBLIC;
