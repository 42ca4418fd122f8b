-- mlops.trigram_similarity: pg_trgm's similarity() (Jaccard over trigram sets) of two trigram sets made by
-- mlops.text_trigrams, so it gives what pg_trgm gives in a UTF-8 locale in any locale, LC_CTYPE 'C' included.
-- mlops.text_similarity is the same over two texts.

CREATE OR REPLACE FUNCTION mlops.trigram_similarity(p_left text[], p_right text[])
RETURNS real
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (
        SELECT CASE WHEN s.total = 0 THEN 0 ELSE (s.shared::real / (s.total - s.shared)::real) END
        FROM (
            SELECT pg_catalog.cardinality(p_left) + pg_catalog.cardinality(p_right) AS total,
                (SELECT pg_catalog.count(*) FROM pg_catalog.unnest(p_left) AS l (g)
                    INNER JOIN pg_catalog.unnest(p_right) AS r (g) ON r.g OPERATOR(pg_catalog.=) l.g) AS shared
        ) AS s
    );
$$;

COMMENT ON FUNCTION mlops.trigram_similarity(text[], text[]) IS
'Immutable: similarity, real 0-1, of two distinct trigram sets (from mlops.text_trigrams): shared / (all distinct of '
'both), Jaccard as pg_trgm''s similarity() computes it. 0 when both are empty. Source: pg_trgm, trgm_op.c.';

REVOKE EXECUTE ON FUNCTION mlops.trigram_similarity(text[], text[]) FROM PUBLIC;
