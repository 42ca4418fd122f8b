-- mlops.referencing_fks: every FK that references a table, found by OID in any schema; the list the
-- merge re-points, so no referencing table can be forgotten.

CREATE OR REPLACE FUNCTION mlops.referencing_fks(p_target regclass)
RETURNS TABLE (
    fk_oid oid,
    fk_name text,
    referencing_table regclass,
    referencing_columns text[],
    referenced_table regclass,
    referenced_columns text[],
    on_delete text,
    on_update text,
    is_deferrable boolean,
    initially_deferred boolean
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops.assert_table(p_target);
    RETURN QUERY
    SELECT f.*
    FROM mlops.foreign_key_catalog() AS f
    WHERE f.referenced_table = p_target
    ORDER BY f.referencing_table::text, f.fk_name;
END;
$$;

COMMENT ON FUNCTION mlops.referencing_fks(regclass) IS
'Every foreign key that references the target table, from pg_constraint by OID: all schemas, composite keys '
'(columns paired in order), keys other than the primary key, self references, partitioned tables once; with '
'ON DELETE / ON UPDATE actions and deferrability.';

REVOKE EXECUTE ON FUNCTION mlops.referencing_fks(regclass) FROM PUBLIC;
