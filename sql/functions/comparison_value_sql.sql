-- mlops.comparison_value_sql: how a rule's evaluator writes one comparison's value as text: in one spelling whatever
-- the session's DateStyle, TimeZone or extra_float_digits, so values written by any session compare equal, and
-- detection reads dates and numbers back from that text.

CREATE OR REPLACE FUNCTION mlops.comparison_value_sql(p_value_sql text, p_type regtype)
RETURNS text
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE mlops.comparison_base_type(p_type)
        WHEN 'date'::pg_catalog.regtype THEN
            pg_catalog.format('pg_catalog.to_char(%s, ''YYYY-MM-DD'')', p_value_sql)
        WHEN 'timestamp without time zone'::pg_catalog.regtype THEN
            pg_catalog.format('pg_catalog.to_char(%s, ''YYYY-MM-DD HH24:MI:SS.US'')', p_value_sql)
        WHEN 'timestamp with time zone'::pg_catalog.regtype THEN
            pg_catalog.format('pg_catalog.to_char((%s) AT TIME ZONE ''UTC'', ''YYYY-MM-DD HH24:MI:SS.US'')', p_value_sql)
        WHEN 'real'::pg_catalog.regtype THEN pg_catalog.format('((%s)::numeric)::text', p_value_sql)
        WHEN 'double precision'::pg_catalog.regtype THEN pg_catalog.format('((%s)::numeric)::text', p_value_sql)
        ELSE pg_catalog.format('(%s)::text', p_value_sql)
    END;
$$;

COMMENT ON FUNCTION mlops.comparison_value_sql(text, regtype) IS
'Stable: SQL text (text) writing a comparison''s value (SQL text p_value_sql of type p_type) as text in one '
'spelling: dates YYYY-MM-DD, timestamps YYYY-MM-DD HH24:MI:SS.US (with time zone: in UTC), floating point as '
'numeric, anything else its text form. The expression is pasted as it is: pass SQL the package built.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_value_sql(text, regtype) FROM PUBLIC;
