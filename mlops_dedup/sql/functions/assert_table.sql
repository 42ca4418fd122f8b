-- mlops.assert_table: refuses NULL and relations that are not tables, with an error that names them.

CREATE OR REPLACE FUNCTION mlops.assert_table(p_target regclass)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_relkind "char";
BEGIN
    IF p_target IS NULL THEN
        RAISE EXCEPTION 'target table must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass a table, e.g. ''mlops.cover_letter_samples''::regclass.';
    END IF;
    SELECT c.relkind INTO v_relkind FROM pg_catalog.pg_class AS c WHERE c.oid = p_target;
    IF v_relkind IS NULL THEN
        RAISE EXCEPTION 'relation with OID % does not exist', p_target::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF v_relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', p_target
            USING ERRCODE = 'wrong_object_type',
            DETAIL = format('relkind is %L; only ordinary and partitioned tables can be targets.', v_relkind);
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.assert_table(regclass) IS
'Raises null_value_not_allowed for NULL, undefined_table for a dangling OID and wrong_object_type for a view, '
'sequence or other non-table; returns quietly for an ordinary or partitioned table.';

REVOKE EXECUTE ON FUNCTION mlops.assert_table(regclass) FROM PUBLIC;
