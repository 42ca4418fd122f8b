-- mlops.archive_exact_columns: the columns of a table whose to_jsonb form does not read back to the same value
-- (json text, floats, intervals, arrays, composites, ranges, bytea, ...): the archive keeps their exact text too.

CREATE OR REPLACE FUNCTION mlops.archive_exact_columns(p_table regclass)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Exact through to_jsonb and jsonb_populate_record (checked on PostgreSQL 15, BC dates and odd time zone
    -- offsets included): integers, boolean, text types, uuid, jsonb, numeric, date, timestamp(tz), enums, and
    -- domains over them. Everything else keeps its text.
    RETURN (
        WITH RECURSIVE col AS (
            SELECT a.attnum, a.attname::text AS name, a.atttypid AS typ
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = p_table AND a.attnum > 0 AND NOT a.attisdropped
            UNION ALL
            SELECT c.attnum, c.name, t.typbasetype
            FROM col AS c INNER JOIN pg_catalog.pg_type AS t ON t.oid = c.typ
            WHERE t.typtype = 'd'
        )
        SELECT array_agg(c.name ORDER BY c.attnum)
        FROM col AS c
        INNER JOIN pg_catalog.pg_type AS t ON t.oid = c.typ
        WHERE t.typtype <> 'd'
            AND t.typtype <> 'e'
            AND c.typ NOT IN (
                'pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype,
                'pg_catalog.bool'::regtype, 'pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype,
                'pg_catalog.bpchar'::regtype, 'pg_catalog.name'::regtype, 'pg_catalog.char'::regtype,
                'pg_catalog.uuid'::regtype, 'pg_catalog.jsonb'::regtype, 'pg_catalog.numeric'::regtype,
                'pg_catalog.date'::regtype, 'pg_catalog.timestamp'::regtype, 'pg_catalog.timestamptz'::regtype
            )
    );
END;
$$;

COMMENT ON FUNCTION mlops.archive_exact_columns(regclass) IS
'Internal: names of the table''s columns (in column order; NULL when none) whose to_jsonb form is not exact, so the '
'archive also keeps their mlops.archive_text.';

REVOKE EXECUTE ON FUNCTION mlops.archive_exact_columns(regclass) FROM PUBLIC;
