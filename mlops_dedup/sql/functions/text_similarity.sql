-- mlops.text_similarity: pg_trgm's similarity() in any locale: the Jaccard similarity of two texts' trigram sets,
-- the sets made by mlops.text_trigrams, whose word characters do not depend on LC_CTYPE.

CREATE OR REPLACE FUNCTION mlops.text_similarity(p_left text, p_right text)
RETURNS real
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- plpgsql, not a SQL-standard body: that would need text_trigrams and trigram_similarity to exist first, and the
-- installer applies the files in name order
AS $$
BEGIN
    RETURN mlops.trigram_similarity(mlops.text_trigrams(p_left), mlops.text_trigrams(p_right));
END;
$$;

COMMENT ON FUNCTION mlops.text_similarity(text, text) IS
'Immutable, any locale: similarity of two texts, real 0-1: shared trigrams / all distinct trigrams of both (Jaccard) '
'over mlops.text_trigrams; what pg_trgm''s similarity() gives in a UTF-8 locale, also where pg_trgm sees no letter '
'(non-ASCII text under LC_CTYPE C: pg_trgm gives 0). Compare texts normalized by mlops.normalize_text. '
'Source: pg_trgm (PostgreSQL contrib), trgm_op.c.';

REVOKE EXECUTE ON FUNCTION mlops.text_similarity(text, text) FROM PUBLIC;
