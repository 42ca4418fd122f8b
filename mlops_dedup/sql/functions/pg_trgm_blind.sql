-- mlops.pg_trgm_blind: whether pg_trgm, in this database, sees no letter outside ASCII. pg_trgm takes its word
-- characters from the database's LC_CTYPE: under 'C', show_trgm('안녕하세요') is {} and every Korean, Japanese,
-- Chinese, Cyrillic, Greek or accented pair scores 0.

CREATE OR REPLACE FUNCTION mlops.pg_trgm_blind()
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema name;
    v_trigrams text[];
BEGIN
    SELECT n.nspname INTO v_schema
    FROM pg_catalog.pg_extension AS e INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'pg_trgm';
    IF v_schema IS NULL THEN
        RETURN true;
    END IF;
    -- U+00E9 and U+AC00 (é, 가): a Latin letter and a Hangul syllable
    EXECUTE format('SELECT %I.show_trgm(%L)', v_schema, chr(233) || chr(44032)) INTO v_trigrams;
    RETURN cardinality(v_trigrams) = 0;
END;
$$;

COMMENT ON FUNCTION mlops.pg_trgm_blind() IS
'Stable: true when pg_trgm sees no letter outside ASCII in this database (LC_CTYPE C or another single-byte ctype: '
'show_trgm of é and 가 is empty), or is not installed; detection then compares texts with such letters with the '
'package''s own trigrams (mlops.text_similarity). install and the rule check warn about it. Raises nothing.';

REVOKE EXECUTE ON FUNCTION mlops.pg_trgm_blind() FROM PUBLIC;
