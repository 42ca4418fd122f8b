-- mlops.target_references: everything a merge of a table must re-point: its foreign keys (mlops.referencing_fks)
-- and the references declared in mlops.declared_references (plain, polymorphic or inside a json document), in one
-- shape, so every step of a merge, its delete gate and its undo treat both alike.

CREATE OR REPLACE FUNCTION mlops.target_references(p_target regclass)
RETURNS TABLE (
    fk_name text,
    referencing_table regclass,
    referencing_columns text[],
    referenced_columns text[],
    declared boolean
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT f.fk_name, f.referencing_table, f.referencing_columns, f.referenced_columns, false
    FROM mlops.referencing_fks(p_target) AS f
    UNION ALL
    SELECT d.reference_name, d.referencing_table, ARRAY[d.id_column], ARRAY[mlops.key_column(p_target)], true
    FROM mlops.declared_references_of(p_target) AS d
    -- a declaration whose column was dropped since references nothing
    WHERE EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = d.referencing_table AND a.attname = d.id_column AND NOT a.attisdropped
    )
        AND (d.type_column IS NULL OR EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = d.referencing_table AND a.attname = d.type_column AND NOT a.attisdropped
        ))
    ORDER BY 5, 2, 1;
END;
$$;

COMMENT ON FUNCTION mlops.target_references(regclass) IS
'Internal: the references a merge of p_target re-points: one row per FK (declared false) and per declared reference '
'(declared true; fk_name is its reference_name, referencing_columns its id column, referenced_columns the target''s '
'key column; a declaration whose column was dropped is left out): (fk_name text, referencing_table regclass, '
'referencing_columns text[], referenced_columns text[], declared boolean); FKs first. Errors: NULL target 22004, '
'not a table 42809.';

REVOKE EXECUTE ON FUNCTION mlops.target_references(regclass) FROM PUBLIC;
