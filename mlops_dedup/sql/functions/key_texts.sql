-- mlops.key_texts: the keys a caller passed (any type the key type can be cast from: the key type itself, integers
-- for an integer key, text for uuid, text or varchar keys) as the canonical text the package works with and logs.
-- Keys whose type has equal values with different texts (numeric 1.5 / 1.50, citext 'A' / 'a', bpchar padding,
-- floats) take the text of the row they name, so the log names each row one way whatever the caller wrote.

CREATE OR REPLACE FUNCTION mlops.key_texts(p_table regclass, p_keys anycompatiblearray)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key_type text := mlops.key_type_sql(p_table);
    v_texts text[];
    v_state text;
    v_message text;
BEGIN
    IF p_keys IS NULL THEN
        RETURN NULL;
    END IF;
    IF (pg_catalog.pg_typeof(p_keys) IN ('pg_catalog.int2[]'::regtype, 'pg_catalog.int4[]'::regtype,
        'pg_catalog.int8[]'::regtype) AND mlops.key_is_integer(p_table))
        OR (pg_catalog.pg_typeof(p_keys) = 'pg_catalog.uuid[]'::regtype
            AND mlops.key_base_type(p_table) = 'pg_catalog.uuid'::regtype) THEN
        -- integers for an integer key, uuids for a uuid key: their text is the key's, no statement needed
        RETURN p_keys::text[];
    END IF;
    BEGIN
        EXECUTE format(
            'SELECT array_agg(%s ORDER BY u.o) FROM unnest($1::%s[]) WITH ORDINALITY AS u (k, o)',
            mlops.key_text_sql(p_table, 'u.k'), v_key_type
        ) INTO v_texts USING p_keys;
        v_texts := coalesce(v_texts, ARRAY[]::text[]);
    EXCEPTION WHEN data_exception OR cannot_coerce OR datatype_mismatch THEN
        GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
        RAISE EXCEPTION 'keys for % must be of its key type %: %', p_table, v_key_type, v_message
            USING ERRCODE = v_state,
            DETAIL = format('Got %s.', pg_catalog.pg_typeof(p_keys)),
            HINT = format('Pass keys of type %s, or text it can read, e.g. ARRAY[''…'']::%s[].', v_key_type,
                v_key_type);
    END;
    IF mlops.key_text_is_canonical(p_table) THEN
        RETURN v_texts;  -- one text per value: the cast's output is canonical already
    END IF;
    EXECUTE format(
        'SELECT array_agg(coalesce(r.key_text, u.k) ORDER BY u.o) FROM unnest($1::text[]) WITH ORDINALITY AS u (k, o)'
        ' LEFT JOIN LATERAL (SELECT %s AS key_text FROM %s AS t WHERE %s LIMIT 1) AS r ON true',
        mlops.key_text_sql(p_table, format('t.%I', mlops.key_column(p_table))), p_table,
        mlops.key_match_sql(p_table, 't', 'u.k', false)
    ) INTO v_texts USING v_texts;
    RETURN coalesce(v_texts, ARRAY[]::text[]);
END;
$$;

COMMENT ON FUNCTION mlops.key_texts(regclass, anycompatiblearray) IS
'Internal: p_keys (an array of the key type or of a type it can be cast from) as canonical key texts (text[], same '
'order, NULLs kept); for key types with several texts per value, the text of the row each key names. Raises the '
'cast''s own SQLSTATE (e.g. 22P02 for ''x'' as a uuid, 42846 for integers as uuids) naming the table, and 0A000 '
'for a table without a single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_texts(regclass, anycompatiblearray) FROM PUBLIC;
