-- STUB (replaced by the edit-distance branch)
CREATE OR REPLACE FUNCTION mlops.edit_distance_sql(p_left_sql text, p_right_sql text, p_max integer)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema name;
BEGIN
    SELECT n.nspname INTO v_schema
    FROM pg_catalog.pg_extension AS e INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'fuzzystrmatch';
    RETURN format('least(%I.levenshtein_less_equal(%s, %s, %s), %s)', v_schema, p_left_sql, p_right_sql, p_max,
        p_max + 1);
END;
$$;
