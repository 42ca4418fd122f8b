-- mlops.row_key_sql: the SQL expression (over alias r) that names a row in the merge log: its primary key as
-- jsonb, or, in a table without one, the whole row (identical rows are interchangeable, so undo pairs them by count).

CREATE OR REPLACE FUNCTION mlops.row_key_sql(p_table regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key_columns text[] := mlops.primary_key_columns(p_table);
BEGIN
    IF v_key_columns IS NULL THEN
        RETURN 'to_jsonb(r.*)';
    END IF;
    RETURN format('jsonb_build_object(%s)', mlops.sql_pairs(v_key_columns, '%1$L, r.%1$I', ', '));
END;
$$;

COMMENT ON FUNCTION mlops.row_key_sql(regclass) IS
'SQL expression over alias r giving the jsonb a merge logs to find a row again: the primary key columns, or the '
'whole row for a table without a primary key.';

REVOKE EXECUTE ON FUNCTION mlops.row_key_sql(regclass) FROM PUBLIC;
