-- mlops.declared_references_of: the declared references (mlops.declared_references) that point at a table, in the
-- shape the merge reads next to mlops.referencing_fks: a declaration on a partitioned table once, not again for a
-- partition that repeats it.

CREATE OR REPLACE FUNCTION mlops.declared_references_of(p_target regclass)
RETURNS TABLE (
    reference_id bigint,
    referencing_table regclass,
    id_column text,
    type_column text,
    type_value text,
    json_path text[],
    reference_name text
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM mlops.assert_table(p_target);
    RETURN QUERY
    SELECT
        d.reference_id,
        d.referencing_table,
        d.id_column::text,
        d.type_column::text,
        d.type_value,
        d.json_path,
        'declared:' || c.relname || '.' || d.id_column
        || coalesce('[' || d.type_column || '=' || d.type_value || ']', '')
        || coalesce('#>' || d.json_path::text, '')
    FROM mlops.declared_references AS d
    INNER JOIN pg_catalog.pg_class AS c ON c.oid = d.referencing_table
    WHERE d.target = p_target
        -- a partition's declaration that its partitioned ancestor makes too: the ancestor's covers its rows
        AND NOT EXISTS (
            SELECT
            FROM pg_catalog.pg_partition_ancestors(d.referencing_table) AS anc (relid)
            INNER JOIN mlops.declared_references AS a ON a.referencing_table = anc.relid
            WHERE anc.relid <> d.referencing_table
                AND a.target = d.target
                AND a.id_column = d.id_column
                AND a.type_column IS NOT DISTINCT FROM d.type_column
                AND a.type_value IS NOT DISTINCT FROM d.type_value
                AND a.json_path IS NOT DISTINCT FROM d.json_path
        )
    ORDER BY d.referencing_table::text, d.id_column, d.type_value, d.json_path::text, d.reference_id;
END;
$$;

COMMENT ON FUNCTION mlops.declared_references_of(regclass) IS
'Internal, for merges and the FK audit: the declared references to a table, one row each: (reference_id, '
'referencing_table, id_column, type_column, type_value, json_path, reference_name); type_column and type_value NULL '
'for a plain reference, json_path NULL unless the key is inside a json/jsonb column (id_column #>> json_path). '
'reference_name is a stable display name for logs and moves, e.g. ''declared:orders.customer_code'', '
'''declared:attachments.record_id[record_type=User]'', ''declared:events.payload#>{customer,id}''. A declaration on '
'a partition that its partitioned ancestor repeats is left out (the ancestor''s covers its rows); declarations of '
'dropped tables are left out. Errors: NULL target 22004, not a table 42809 (mlops.assert_table).';

REVOKE EXECUTE ON FUNCTION mlops.declared_references_of(regclass) FROM PUBLIC;
