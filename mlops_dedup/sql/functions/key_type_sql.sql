-- mlops.key_type_sql: the key column's type as SQL for a cast, schema-qualified and without a type modifier:
-- a cast to varchar(5) or char(5) would cut a longer value to a key that exists ('ALFKIX' -> 'ALFKI'), and plain
-- "character" means char(1).

CREATE OR REPLACE FUNCTION mlops.key_type_sql(p_table regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sql text;
BEGIN
    SELECT format('%I.%I', n.nspname, t.typname) INTO v_sql
    FROM pg_catalog.pg_index AS i
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    INNER JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE i.indrelid = p_table AND i.indisprimary AND i.indnatts = 1;
    IF v_sql IS NULL THEN
        PERFORM mlops.key_refusal(p_table, true);
    END IF;
    RETURN v_sql;
END;
$$;

COMMENT ON FUNCTION mlops.key_type_sql(regclass) IS
'Internal: the type of the table''s key column (mlops.key_column) as SQL text for a cast, e.g. pg_catalog.uuid or '
'pg_catalog.bpchar (never with a type modifier). Raises 0A000 for a table without a single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_type_sql(regclass) FROM PUBLIC;
