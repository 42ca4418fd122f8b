-- mlops.text_similarity_sql: the SQL expression detection scores two normalized texts with: pg_trgm's similarity()
-- (C, fast), unless pg_trgm is blind here (mlops.pg_trgm_blind) and one of the texts has a letter outside ASCII:
-- then mlops.text_similarity, the same trigram sets made without the locale. Scores agree in every locale.

CREATE OR REPLACE FUNCTION mlops.text_similarity_sql(p_left_sql text, p_right_sql text)
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
    WHERE e.extname = 'pg_trgm';
    IF v_schema IS NULL THEN
        RETURN format('mlops.text_similarity(%s, %s)', p_left_sql, p_right_sql);
    END IF;
    IF mlops.pg_trgm_blind() THEN
        RETURN format(
            $f$CASE WHEN (%1$s) ~ '[^\x01-\x7F]' OR (%2$s) ~ '[^\x01-\x7F]' THEN mlops.text_similarity(%1$s, %2$s)$f$
            || ' ELSE %3$I.similarity(%1$s, %2$s) END',
            p_left_sql, p_right_sql, v_schema);
    END IF;
    RETURN format('%I.similarity(%s, %s)', v_schema, p_left_sql, p_right_sql);
END;
$$;

COMMENT ON FUNCTION mlops.text_similarity_sql(text, text) IS
'Stable: SQL text of an expression scoring two text expressions (already normalized: mlops.normalize_text), real '
'0-1: pg_trgm''s similarity(), schema-qualified where pg_trgm is installed; mlops.text_similarity instead for pairs '
'with a letter outside ASCII where pg_trgm is blind to them (mlops.pg_trgm_blind), and for every pair without '
'pg_trgm. The two agree (same trigram sets as pg_trgm in a UTF-8 locale). The arguments are pasted as they are: '
'pass SQL the package built, never user text.';

REVOKE EXECUTE ON FUNCTION mlops.text_similarity_sql(text, text) FROM PUBLIC;
