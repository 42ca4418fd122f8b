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
    -- a word of more than 200 characters (a base64 blob, minified code) is cut into 200-character pieces: substr()
    -- walks a multibyte text from its start, so one huge word would cost its length squared; the few trigrams
    -- across the cuts are lost
    WITH words AS (
        SELECT x.word
        FROM pg_catalog.string_to_table(
            pg_catalog.regexp_replace(pg_catalog.lower(p_text), mlops.text_separator_class() || '+', ' ', 'g'), ' '
        ) AS x (word)
        WHERE x.word <> ''
    ),
    pieces AS (
        SELECT '  ' || w.word || ' ' AS padded FROM words AS w WHERE pg_catalog.char_length(w.word) <= 200
        UNION ALL
        SELECT '  ' || m.piece[1] || ' '
        FROM words AS w
        CROSS JOIN LATERAL pg_catalog.regexp_matches(w.word, '.{1,200}', 'g') AS m (piece)
        WHERE pg_catalog.char_length(w.word) > 200
    )
    -- distinct in byte order (COLLATE "C"): cheaper than the locale's order, and equality is the same
    SELECT coalesce(pg_catalog.array_agg(DISTINCT pg_catalog.substr(p.padded, g.i, 3) COLLATE pg_catalog."C"), '{}')
    FROM pieces AS p
    CROSS JOIN LATERAL pg_catalog.generate_series(1, pg_catalog.char_length(p.padded) - 2) AS g (i);
$$;

COMMENT ON FUNCTION mlops.text_trigrams(text) IS
'Immutable, any locale: the distinct trigrams (text[], sorted) of a text as pg_trgm makes them in a UTF-8 locale '
'(lower case; words are runs of letters and digits, padded ''  word ''; every 3 consecutive characters), with word '
'characters fixed by code point (mlops.text_separator_class) instead of LC_CTYPE. Pass text normalized by '
'mlops.normalize_text. A word over 200 characters is cut into 200-character pieces (linear cost; the trigrams across '
'the cuts are lost). ''{}'' for a text with no word. Source: pg_trgm (PostgreSQL contrib), trgm_op.c.';

REVOKE EXECUTE ON FUNCTION mlops.text_trigrams(text) FROM PUBLIC;
