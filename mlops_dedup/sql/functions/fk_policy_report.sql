-- mlops.fk_policy_report: the FK audit, one row per foreign key, with what a DELETE of a referenced row
-- would do and whether the referencing columns are indexed (unindexed FKs make every delete scan); then the declared
-- references, and the references no FK covers: partitions missing their siblings' FK, columns and polymorphic pairs
-- whose values are keys of a table named like them.

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
    risk text,
    detail text
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
        i.indexed,
        CASE f.on_delete
            WHEN 'CASCADE' THEN 'cascades'
            WHEN 'SET NULL' THEN 'sets_null'
            WHEN 'SET DEFAULT' THEN 'sets_default'
            ELSE 'blocks_delete'
        END,
        CASE WHEN NOT i.indexed THEN format(
            'No index leads with (%s): every delete or merge of a %s row scans %s. Fix: %s',
            array_to_string(f.referencing_columns, ', '), f.referenced_table, f.referencing_table,
            mlops.fk_index_statement(f.referencing_table, f.referencing_columns)
        ) END
    FROM mlops.foreign_key_catalog() AS f
    INNER JOIN pg_catalog.pg_class AS rc ON rc.oid = f.referencing_table
    INNER JOIN pg_catalog.pg_class AS dc ON dc.oid = f.referenced_table
    -- an index whose leading key columns are exactly the FK columns, in any order
    CROSS JOIN LATERAL (SELECT mlops.index_leads_with(f.referencing_table, f.referencing_columns) AS indexed) AS i
    WHERE p_schema_name IS NULL OR v_schema IN (rc.relnamespace, dc.relnamespace)
    ORDER BY f.referencing_table::text, f.fk_name;

    -- References merges follow without an FK (mlops.declared_references).
    RETURN QUERY
    SELECT
        d.reference_name,
        d.referencing_table,
        CASE WHEN d.type_column IS NULL THEN ARRAY[d.id_column] ELSE ARRAY[d.type_column, d.id_column] END,
        t.target,
        ARRAY[mlops.key_column(t.target)],
        NULL::text,
        NULL::text,
        CASE WHEN d.json_path IS NULL THEN
            mlops.index_leads_with(d.referencing_table, ARRAY[d.id_column])
            OR (
                d.type_column IS NOT NULL
                AND mlops.index_leads_with(d.referencing_table, ARRAY[d.type_column, d.id_column])
            )
        END,
        'declared',
        format(
            'Declared reference%s%s (%s): merges of %s re-point it like an FK; nothing checks new values or deletes.',
            CASE WHEN d.type_column IS NOT NULL THEN format(' of rows with %I = %L', d.type_column, d.type_value) END,
            CASE WHEN d.json_path IS NOT NULL THEN format(', key at %I #>> %L', d.id_column, d.json_path::text) END,
            (SELECT format('declared by %s at %s', quote_ident(r.declared_by), r.declared_at)
                FROM mlops.declared_references AS r WHERE r.reference_id = d.reference_id),
            t.target
        )
    FROM (
        SELECT DISTINCT r.target FROM mlops.declared_references AS r
        WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
    ) AS t
    CROSS JOIN LATERAL mlops.declared_references_of(t.target) AS d
    INNER JOIN pg_catalog.pg_class AS rc ON rc.oid = d.referencing_table
    INNER JOIN pg_catalog.pg_class AS dc ON dc.oid = t.target
    WHERE p_schema_name IS NULL OR v_schema IN (rc.relnamespace, dc.relnamespace)
    ORDER BY d.referencing_table::text, d.reference_name;

    -- References no FK covers: guesses from the catalog and bounded samples of the data the caller may read.
    RETURN QUERY SELECT * FROM mlops.audit_missing_partition_fks(v_schema);
    RETURN QUERY SELECT * FROM mlops.audit_undeclared_references(v_schema);
    RETURN QUERY SELECT * FROM mlops.audit_undeclared_polymorphic(v_schema);
END;
$$;

COMMENT ON FUNCTION mlops.fk_policy_report(text) IS
'FK audit, rows touching the schema (either end; every schema when NULL). First one row per foreign key: '
'constraint, referencing and referenced table and columns, ON DELETE / ON UPDATE, whether a non-partial index leads '
'with the referencing columns, a risk word: blocks_delete (NO ACTION, RESTRICT), cascades, sets_null, sets_default, '
'and detail (for an unindexed FK the CREATE INDEX that fixes it, else NULL). Then one row per declared reference '
'(mlops.declared_references_of): fk_name its reference_name (declared:table.column…), referencing_columns {id} or '
'{type, id}, referenced_columns the target''s key, on_delete and on_update NULL, indexed NULL for a json path, risk '
'declared. Then the references no FK or declaration covers, fk_name, on_delete and on_update NULL but for '
'missing_on_partition (the carried FK''s actions): risk missing_on_partition (a partition or inheritance child '
'lacks an FK its siblings or parent carry, mlops.audit_missing_partition_fks), undeclared_reference (a column '
'named like a reference whose sampled values are keys of a table named like it, '
'mlops.audit_undeclared_references), undeclared_polymorphic (a <x>_type / <x>_id pair whose ids under a type value '
'are keys of the table it names, one row per pair, type value and table, mlops.audit_undeclared_polymorphic); '
'detail says why, with the share of sampled values found, and the statement that fixes it. The guesses read at '
'most 100000 rows per column and table tried, only what the caller may SELECT (others are skipped). Unknown schema: '
'3F000.';

REVOKE EXECUTE ON FUNCTION mlops.fk_policy_report(text) FROM PUBLIC;
