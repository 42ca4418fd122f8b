-- mlops.fk_policy_report: the FK audit, one row per foreign key, with what a DELETE of a referenced row
-- would do and whether the referencing columns are indexed (unindexed FKs make every delete scan).

CREATE OR REPLACE FUNCTION mlops.fk_policy_report(p_schema_name text DEFAULT NULL)
RETURNS TABLE (
    fk_name text,
    referencing_table regclass,
    referencing_columns text[],
    referenced_table regclass,
    referenced_columns text[],
    on_delete text,
    on_update text,
    indexed boolean,
    risk text
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema oid;
BEGIN
    SELECT n.oid INTO v_schema FROM pg_catalog.pg_namespace AS n WHERE n.nspname = p_schema_name;
    IF p_schema_name IS NOT NULL AND v_schema IS NULL THEN
        RAISE EXCEPTION 'schema % does not exist', quote_ident(p_schema_name)
            USING ERRCODE = 'invalid_schema_name',
            HINT = 'Pass an existing schema name, or NULL for every schema.';
    END IF;

    -- A FK is in the schema when either end of it is.
    RETURN QUERY
    SELECT
        f.fk_name,
        f.referencing_table,
        f.referencing_columns,
        f.referenced_table,
        f.referenced_columns,
        f.on_delete,
        f.on_update,
        EXISTS (
            -- an index whose leading key columns are exactly the FK columns, in any order
            SELECT
            FROM pg_catalog.pg_index AS i
            WHERE i.indrelid = c.conrelid
                AND i.indpred IS NULL
                AND i.indnkeyatts >= cardinality(c.conkey)
                AND (
                    SELECT array_agg(ik.attnum ORDER BY ik.attnum)
                    FROM unnest(i.indkey::int2 []) WITH ORDINALITY AS ik (attnum, ord)
                    WHERE ik.ord <= cardinality(c.conkey)
                ) = (SELECT array_agg(ck.attnum ORDER BY ck.attnum) FROM unnest(c.conkey) AS ck (attnum))
        ),
        CASE f.on_delete
            WHEN 'CASCADE' THEN 'cascades'
            WHEN 'SET NULL' THEN 'sets_null'
            WHEN 'SET DEFAULT' THEN 'sets_default'
            ELSE 'blocks_delete'
        END
    FROM mlops.foreign_key_catalog() AS f
    INNER JOIN pg_catalog.pg_constraint AS c ON c.oid = f.fk_oid
    INNER JOIN pg_catalog.pg_class AS rc ON rc.oid = f.referencing_table
    INNER JOIN pg_catalog.pg_class AS dc ON dc.oid = f.referenced_table
    WHERE p_schema_name IS NULL OR v_schema IN (rc.relnamespace, dc.relnamespace)
    ORDER BY f.referencing_table::text, f.fk_name;
END;
$$;

COMMENT ON FUNCTION mlops.fk_policy_report(text) IS
'FK audit: one row per foreign key touching the schema (every schema when NULL): constraint, referencing and '
'referenced table and columns, ON DELETE / ON UPDATE, whether an index leads with the referencing columns, and a '
'risk word: blocks_delete (NO ACTION, RESTRICT), cascades, sets_null, sets_default.';

REVOKE EXECUTE ON FUNCTION mlops.fk_policy_report(text) FROM PUBLIC;
