-- mlops.key_text_sql: SQL giving the text the merge log keeps for a key value: the type's text output, which its
-- input reads back to the same value. Types whose output depends on session settings (floats, dates, times,
-- intervals, bytea, …) go through mlops.archive_text's fixed settings; the common key types (integers, numeric,
-- uuid, text types, oid, boolean) need no function call, which keeps 100k-row merges as fast as with bigint keys.

CREATE OR REPLACE FUNCTION mlops.key_text_sql(p_table regclass, p_value_sql text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_base regtype;
    v_category "char";
BEGIN
    v_base := mlops.key_base_type(p_table);
    SELECT t.typcategory INTO v_category FROM pg_catalog.pg_type AS t WHERE t.oid = v_base;
    IF v_base IS NULL THEN
        PERFORM mlops.key_refusal(p_table, true);
    END IF;
    IF v_category = 'S' OR v_base IN (
        'pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype,
        'pg_catalog.numeric'::regtype, 'pg_catalog.uuid'::regtype, 'pg_catalog.oid'::regtype,
        'pg_catalog.bool'::regtype
    ) THEN
        RETURN format('(%s)::pg_catalog.text', p_value_sql);
    END IF;
    RETURN format('mlops.archive_text(%s)', p_value_sql);
END;
$$;

COMMENT ON FUNCTION mlops.key_text_sql(regclass, text) IS
'Internal: SQL text that turns p_value_sql, a value of the table''s key type, into the text the merge log keeps: '
'(value)::text for integers, numeric, uuid, oid, boolean and string types, mlops.archive_text(value) (fixed '
'DateStyle, IntervalStyle, extra_float_digits, bytea_output) for the others. Raises 0A000 for a table without a '
'single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_text_sql(regclass, text) FROM PUBLIC;
