-- mlops.key_is_integer: whether a table's key column (mlops.key_column) is smallint, integer or bigint, or a domain
-- over one of them at any depth: then its keys are also kept as bigint (survivor_id, left_id, …) and detection
-- works on the key values themselves.

CREATE OR REPLACE FUNCTION mlops.key_is_integer(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN coalesce(
        mlops.key_base_type(p_table)
        IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype),
        false
    );
END;
$$;

COMMENT ON FUNCTION mlops.key_is_integer(regclass) IS
'Internal: true when the table''s single-column primary key is smallint, integer or bigint (or a domain over one of '
'them, mlops.key_base_type); false for any other key type, and for a table without a single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_is_integer(regclass) FROM PUBLIC;
