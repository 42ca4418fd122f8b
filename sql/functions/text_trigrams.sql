-- mlops.text_trigrams: the trigram set pg_trgm would make of a text in a UTF-8 locale, in any locale: words are
-- runs of letters and digits (mlops.text_separator_class), each padded with two spaces before and one after, and
-- every three consecutive characters of a padded word is a trigram. Under LC_CTYPE 'C' pg_trgm sees no letter
-- outside ASCII (show_trgm('안녕하세요') is {}): these trigrams see them.

CREATE OR REPLACE FUNCTION mlops.text_trigrams(p_text text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT (
        -- distinct in byte order (COLLATE "C"): cheaper than the locale's order, and equality is the same
        SELECT coalesce(pg_catalog.array_agg(DISTINCT pg_catalog.substr(w.padded, g.i, 3) COLLATE pg_catalog."C"), '{}')
        FROM (
            SELECT '  ' || x.word || ' ' AS padded
            FROM pg_catalog.string_to_table(
                pg_catalog.regexp_replace(pg_catalog.lower(p_text), mlops.text_separator_class() || '+', ' ', 'g'), ' '
            ) AS x (word)
            WHERE x.word <> ''
        ) AS w
        CROSS JOIN LATERAL pg_catalog.generate_series(1, pg_catalog.char_length(w.padded) - 2) AS g (i)
    );
$$;

COMMENT ON FUNCTION mlops.text_trigrams(text) IS
'Immutable, any locale: the distinct trigrams (text[], sorted) of a text as pg_trgm makes them in a UTF-8 locale '
'(lower case; words are runs of letters and digits, padded ''  word ''; every 3 consecutive characters), with word '
'characters fixed by code point (mlops.text_separator_class) instead of LC_CTYPE. Pass text normalized by '
'mlops.normalize_text. ''{}'' for a text with no word. Source: pg_trgm (PostgreSQL contrib), trgm_op.c.';

REVOKE EXECUTE ON FUNCTION mlops.text_trigrams(text) FROM PUBLIC;
