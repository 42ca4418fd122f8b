-- mlops.comparison_values_sql: SQL reading a row's comparison values (the evaluator's cmp, text[]) as detection
-- compares them: strings in one spelling (mlops.normalize_text, case folded; blank and placeholder values are no
-- evidence), other types as the evaluator wrote them (mlops.comparison_value_sql), empty text as NULL.

CREATE OR REPLACE FUNCTION mlops.comparison_values_sql(p_cmp_sql text, p_types regtype[], p_placeholders text[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_values text[] := ARRAY[]::text[];
    v_value text;
BEGIN
    IF p_types IS NULL THEN
        RETURN 'NULL::text[]';
    END IF;
    FOR v_i IN 1..cardinality(p_types) LOOP
        v_value := format('nullif((%s)[%s], %L)', p_cmp_sql, v_i, '');
        IF (SELECT t.typcategory = 'S' FROM pg_catalog.pg_type AS t
            WHERE t.oid = mlops.comparison_base_type(p_types[v_i])) THEN
            v_value := mlops.dedup_value_sql(v_value, p_placeholders);
        END IF;
        v_values := v_values || v_value;
    END LOOP;
    RETURN format('ARRAY[%s]::text[]', array_to_string(v_values, ', '));
END;
$$;

COMMENT ON FUNCTION mlops.comparison_values_sql(text, regtype[], text[]) IS
'Stable: SQL text of an expression (text[]) giving a row''s comparison values as detection compares them, from SQL '
'p_cmp_sql reading the evaluator''s values (text[]) of types p_types: string types through mlops.dedup_value_sql '
'(normalized, case folded, blank and p_placeholders NULL), others as written; empty text NULL. ''NULL::text[]'' for a '
'rule without comparisons. The SQL is pasted as it is: pass SQL the package built.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_values_sql(text, regtype[], text[]) FROM PUBLIC;
