-- mlops.declared_reference: one declared reference of a referencing table, found by the name the merge log gives it
-- (mlops.declared_references_of's reference_name), with its id column's type: what the match and SET builders
-- need. No row when the name is not a declared reference of that table (then it is an FK's name).

CREATE OR REPLACE FUNCTION mlops.declared_reference(p_referencing regclass, p_name text)
RETURNS TABLE (
    target regclass,
    id_column text,
    id_type text,
    type_column text,
    type_value text,
    json_path text[],
    id_is_text boolean
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_name IS NULL OR p_name NOT LIKE 'declared:%' THEN
        RETURN;
    END IF;
    RETURN QUERY
    SELECT d.target, r.id_column, format('%I.%I', n.nspname, t.typname), r.type_column, r.type_value, r.json_path,
        t.typcategory = 'S'
    FROM mlops.declared_references AS d
    CROSS JOIN LATERAL mlops.declared_references_of(d.target) AS r
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p_referencing AND a.attname = r.id_column
    INNER JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE d.referencing_table = p_referencing AND r.referencing_table = p_referencing AND r.reference_name = p_name
    LIMIT 1;
END;
$$;

COMMENT ON FUNCTION mlops.declared_reference(regclass, text) IS
'Internal: the declared reference of p_referencing named p_name (a reference_name of mlops.declared_references_of): '
'(target regclass, id_column text, id_type text: the column''s type, schema-qualified, without modifier, '
'type_column text, type_value '
'text, json_path text[], id_is_text boolean: a string column); no row when there is none (an FK''s name).';

REVOKE EXECUTE ON FUNCTION mlops.declared_reference(regclass, text) FROM PUBLIC;
