-- mlops.comparison_value_sql: how a rule's evaluator writes one comparison's value as text: in one spelling whatever
-- the session's DateStyle, TimeZone or extra_float_digits, so values written by any session compare equal, and
-- detection reads dates and numbers back from that text. Dates of years 1 to 9999 are YYYY-MM-DD (detection reads
-- them as dates); other finite dates are their Julian day ('J2451545'), compared as they are; infinity is itself.

CREATE OR REPLACE FUNCTION mlops.comparison_value_sql(p_value_sql text, p_type regtype)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_base regtype := mlops.comparison_base_type(p_type);
    v_moment text;
    v_format text;
BEGIN
    IF v_base IN ('date'::regtype, 'timestamp without time zone'::regtype, 'timestamp with time zone'::regtype) THEN
        -- the moment as a date or a timestamp without time zone (a timestamp with one: in UTC)
        v_moment := CASE v_base WHEN 'timestamp with time zone'::regtype
            THEN format('((%s) AT TIME ZONE ''UTC'')', p_value_sql) ELSE format('(%s)', p_value_sql) END;
        v_format := CASE v_base WHEN 'date'::regtype THEN 'YYYY-MM-DD' ELSE 'YYYY-MM-DD HH24:MI:SS.US' END;
        RETURN format(
            'CASE WHEN NOT pg_catalog.isfinite(%1$s) THEN (%1$s)::text'
            ' WHEN %1$s >= %2$L::%3$s AND %1$s < %4$L::%3$s THEN pg_catalog.to_char(%1$s, %5$L)'
            ' ELSE ''J'' || pg_catalog.to_char(%1$s, ''J'') END',
            v_moment, '0001-01-01', CASE v_base WHEN 'date'::regtype THEN 'date' ELSE 'timestamp' END,
            '10000-01-01', v_format);
    END IF;
    IF v_base IN ('real'::regtype, 'double precision'::regtype) THEN
        RETURN format('((%s)::numeric)::text', p_value_sql);
    END IF;
    RETURN format('(%s)::text', p_value_sql);
END;
$$;

COMMENT ON FUNCTION mlops.comparison_value_sql(text, regtype) IS
'Stable: SQL text (text) writing a comparison''s value (SQL text p_value_sql of type p_type) as text in one '
'spelling: dates YYYY-MM-DD and timestamps YYYY-MM-DD HH24:MI:SS.US (with time zone: in UTC) for years 1 to 9999, '
'J<Julian day> for other finite ones, infinity as itself; floating point as numeric; anything else its text form. '
'The expression is pasted as it is: pass SQL the package built.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_value_sql(text, regtype) FROM PUBLIC;
