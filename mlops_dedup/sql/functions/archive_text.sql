-- mlops.archive_text: a value's exact text, whatever the session's DateStyle, IntervalStyle or extra_float_digits:
-- what the archive keeps where to_jsonb is not exact (json text, floats, intervals, array bounds, composites).

CREATE OR REPLACE FUNCTION mlops.archive_text(p_value anyelement)
RETURNS text
LANGUAGE sql
STABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, YMD'
SET intervalstyle = 'postgres'
SET extra_float_digits = 1
SET bytea_output = 'hex'
SET timezone = 'UTC'
AS $$
    SELECT p_value::text
$$;

COMMENT ON FUNCTION mlops.archive_text(anyelement) IS
'Internal: the value''s text output under fixed settings (DateStyle ISO, IntervalStyle postgres, shortest exact '
'floats, hex bytea, TimeZone UTC), which its type''s input reads back to the same value under any session settings; '
'NULL for NULL.';

REVOKE EXECUTE ON FUNCTION mlops.archive_text(anyelement) FROM PUBLIC;
