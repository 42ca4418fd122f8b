-- mlops.integer_key_column: the one column of a single-column smallint/integer/bigint primary key (or of a domain
-- over one of them, at any depth), else NULL. Rows can be merged only in tables keyed this way.

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
        WITH RECURSIVE key_type AS (
            SELECT a.atttypid AS typ
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = p_table AND a.attname = v_columns[1]
            UNION ALL
            -- a domain: its base type (domains over domains too)
            SELECT t.typbasetype
            FROM pg_catalog.pg_type AS t INNER JOIN key_type AS k ON t.oid = k.typ
            WHERE t.typtype = 'd'
        )
        SELECT FROM key_type AS k
        WHERE k.typ IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype)
    ) THEN
        RETURN v_columns[1];
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.integer_key_column(regclass) IS
'Name of the primary key column when the primary key is one smallint, integer or bigint column (or a domain over one '
'of them); NULL otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.integer_key_column(regclass) FROM PUBLIC;
