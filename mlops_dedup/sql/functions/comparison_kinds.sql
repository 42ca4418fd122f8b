-- mlops.comparison_kinds: how each comparison of a rule is compared, from its type and, for strings, its values:
-- dates and timestamps 'date'; integers 'code' (typos in numbers are edits); numeric and floating point 'number';
-- strings 'code' when nearly all values are digits and punctuation up to 20 characters (postcodes, phone numbers,
-- dates written as digits), else 'text'; anything else 'exact'. Reads the rows of the detection pass
-- (pg_temp.mlops_dedup_rows, at most 10,000 of them).

CREATE OR REPLACE FUNCTION mlops.comparison_kinds(p_types regtype[])
RETURNS text[]
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_kinds text[] := ARRAY[]::text[];
    v_type regtype;
    v_category "char";
    v_digits double precision;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text,'
        ' cmp text[])';
    FOR v_i IN 1..coalesce(cardinality(p_types), 0) LOOP
        v_type := mlops.comparison_base_type(p_types[v_i]);
        SELECT t.typcategory INTO v_category FROM pg_catalog.pg_type AS t WHERE t.oid = v_type;
        IF v_type IN ('date'::regtype, 'timestamp without time zone'::regtype, 'timestamp with time zone'::regtype)
        THEN
            v_kinds := v_kinds || 'date'::text;
        ELSIF v_type IN ('smallint'::regtype, 'integer'::regtype, 'bigint'::regtype) THEN
            v_kinds := v_kinds || 'code'::text;
        ELSIF v_type IN ('numeric'::regtype, 'real'::regtype, 'double precision'::regtype) THEN
            v_kinds := v_kinds || 'number'::text;
        ELSIF v_category = 'S' THEN
            SELECT avg((s.v ~ '^[0-9[:punct:][:space:]]{1,20}$')::integer) INTO v_digits
            FROM (SELECT r.cmp[v_i] AS v FROM pg_temp.mlops_dedup_rows AS r WHERE r.cmp[v_i] IS NOT NULL LIMIT 10000)
                AS s;
            v_kinds := v_kinds || CASE WHEN v_digits >= 0.9 THEN 'code' ELSE 'text' END;
        ELSE
            v_kinds := v_kinds || 'exact'::text;
        END IF;
    END LOOP;
    RETURN v_kinds;
END;
$$;

COMMENT ON FUNCTION mlops.comparison_kinds(regtype[]) IS
'Stable: the kind (text[]: text, code, number, date, exact) of each comparison of types p_types (regtype[]), from '
'the type (date and timestamps date; integers code; numeric and floating point number; strings by their values: '
'code when 90% or more of up to 10,000 values of pg_temp.mlops_dedup_rows are digits and punctuation, at most 20 '
'characters, else text; other types exact). Levels per kind: mlops.comparison_level_labels.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_kinds(regtype[]) FROM PUBLIC;
