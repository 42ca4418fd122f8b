-- mlops.assert_not_package_relation: refuses the package's own tables (its merge log, rules, runs, review queue,
-- ledger, rule evaluators) as merge or rule targets: merging them would rewrite the record that undo relies on.

CREATE OR REPLACE FUNCTION mlops.assert_not_package_relation(p_table regclass)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF EXISTS (
        SELECT
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
        WHERE c.oid = p_table
            AND (
                n.nspname = 'mlops_rules'
                OR (n.nspname = 'mlops' AND c.relname = ANY (mlops.package_table_names()))
            )
    ) THEN
        RAISE EXCEPTION '% is a table of the mlops-dedup package; its rows are never merged', p_table
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'The merge log, rules, runs and review queue are what undo and review rely on.',
            HINT = 'Merge rows of your own tables; undo merges with mlops.unmerge(merge_id).';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.assert_not_package_relation(regclass) IS
'Raises invalid_parameter_value (22023) when the table is one of the package''s own (mlops.package_table_names() '
'in schema mlops, or anything in mlops_rules); returns quietly otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.assert_not_package_relation(regclass) FROM PUBLIC;
