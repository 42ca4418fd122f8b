-- mlops.audit_key_match: how many of a column's values are keys of a table, on a bounded sample: the distinct
-- non-NULL values (at most 1000) among the first 100000 rows, each read as the key's type from its text and looked
-- up through the primary key. The FK audit's evidence that a column named like a reference is one.

CREATE OR REPLACE FUNCTION mlops.audit_key_match(
    p_table regclass,
    p_column text,
    p_target regclass,
    p_type_column text DEFAULT NULL,
    p_type_value text DEFAULT NULL,
    OUT sampled integer,
    OUT matched integer,
    OUT matches boolean
)
RETURNS record
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    c_rows CONSTANT integer := 100000;  -- rows read from p_table at most
    c_values CONSTANT integer := 1000;  -- distinct values checked at most
    c_fraction CONSTANT numeric := 0.9;  -- share of the values that must be keys
    v_key_column text := mlops.key_column(p_target);
    v_values text[];
    v_value text;
    v_found boolean;
    v_lookup text;
BEGIN
    -- Read only what the caller may read; anything else is skipped (NULL counts), never an error.
    IF v_key_column IS NULL
        OR NOT has_schema_privilege((SELECT c.relnamespace FROM pg_catalog.pg_class AS c WHERE c.oid = p_table),
            'USAGE')
        OR NOT has_schema_privilege((SELECT c.relnamespace FROM pg_catalog.pg_class AS c WHERE c.oid = p_target),
            'USAGE')
        OR NOT has_column_privilege(p_table, p_column, 'SELECT')
        OR (p_type_column IS NOT NULL AND NOT has_column_privilege(p_table, p_type_column, 'SELECT'))
        OR NOT has_column_privilege(p_target, v_key_column, 'SELECT')
    THEN
        RETURN;
    END IF;

    -- the first c_rows rows, then the filter: a rare type value does not make the scan read the whole table
    EXECUTE format(
        'SELECT array_agg(s.v) FROM (SELECT DISTINCT r.v FROM (SELECT t.%1$I::pg_catalog.text AS v, %3$s AS wanted'
        ' FROM %2$s AS t LIMIT %4$s) AS r WHERE r.wanted AND r.v IS NOT NULL LIMIT %5$s) AS s',
        p_column, p_table,
        CASE WHEN p_type_column IS NULL THEN 'true'
            ELSE format('t.%I::pg_catalog.text = %L', p_type_column, p_type_value) END,
        c_rows, c_values
    ) INTO v_values;
    sampled := coalesce(cardinality(v_values), 0);
    IF sampled = 0 THEN
        matched := 0;
        matches := FALSE;
        RETURN;
    END IF;

    v_lookup := format('SELECT EXISTS (SELECT FROM %s AS k WHERE %s)', p_target,
        mlops.key_match_sql(p_target, 'k', '$1', false));
    BEGIN
        EXECUTE format(
            'SELECT count(*) FILTER (WHERE EXISTS (SELECT FROM %s AS k WHERE %s)) FROM unnest($1) AS s (v)',
            p_target, mlops.key_match_sql(p_target, 'k', 's.v', false)
        ) INTO matched USING v_values;
    EXCEPTION WHEN data_exception THEN
        -- some value is no valid key at all ('n/a' under a uuid key, 5000000000 under an integer one): count value
        -- by value, such a value as not found
        matched := 0;
        FOREACH v_value IN ARRAY v_values LOOP
            BEGIN
                EXECUTE v_lookup INTO v_found USING v_value;
            EXCEPTION WHEN data_exception THEN
                v_found := FALSE;
            END;
            matched := matched + v_found::integer;
        END LOOP;
    END;
    matches := matched >= c_fraction * sampled;
END;
$$;

COMMENT ON FUNCTION mlops.audit_key_match(regclass, text, regclass, text, text) IS
'Internal, for the FK audit''s guesses: (sampled, matched, matches): of the distinct non-NULL values of p_column '
'(at most 1000, from the first 100000 rows of p_table; with p_type_column those of them whose type column reads '
'p_type_value as text), how many are keys of p_target (each value''s text read as the key''s type and looked up '
'with the primary key''s equality; a value that is no valid key counts as not found), and whether that is at least '
'90 %. All NULL when the caller may not read the columns or p_target has no single-column primary key; sampled 0 '
'(matches false) for an empty column. Raises nothing of its own.';

REVOKE EXECUTE ON FUNCTION mlops.audit_key_match(regclass, text, regclass, text, text) FROM PUBLIC;
