-- mlops.dedup_signatures_make: what detection compares, per row, as hashes: the exact key, the text (identical
-- texts), the sentences or word pairs of texts over 40 characters, the trigrams of texts up to 80 characters. Built
-- from the rows of one of detection's scratch tables into pg_temp.mlops_dedup_sigs; the same signatures serve the
-- full pass's candidate generation and, stored (mlops.dedup_signatures), the probes of later incremental runs.

CREATE OR REPLACE FUNCTION mlops.dedup_signatures_make(p_source text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for a second what runs in milliseconds (scratch tables' row estimates are rough)
SET jit = off
AS $$
DECLARE
    v_made bigint;
    -- texts over half of this get sentence or word-pair tokens, texts up to it trigrams (mlops.dedup_detect)
    v_short_chars CONSTANT integer := 80;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_sigs (id bigint, key text, kind "char", sig bigint, n integer)';
    IF p_source IS NULL OR p_source NOT IN ('mlops_dedup_rows', 'mlops_dedup_fresh') THEN
        RAISE EXCEPTION 'signatures are made from mlops_dedup_rows or mlops_dedup_fresh, not %', p_source
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF to_regclass('pg_temp.mlops_dedup_sigs') IS NOT NULL THEN
        EXECUTE 'DROP TABLE pg_temp.mlops_dedup_sigs';
    END IF;
    -- Sentences end at . ! ? ; the CJK full stop, a line break (a list item is a sentence; NFKC made full-width marks
    -- ASCII), and the full stops of Devanagari, Arabic, Armenian, Ethiopic and Burmese; a text of one sentence is
    -- taken by its pairs of consecutive words instead (single words of a small vocabulary, a skills list, are
    -- boilerplate). Plain string splits, not regular expressions: this runs over every text. Trigrams are pg_trgm's
    -- (a word padded with two spaces before and one after), made per word of mlops.text_separator_class.
    EXECUTE format(
        $q$
        CREATE TEMP TABLE mlops_dedup_sigs AS
        WITH src AS (
            SELECT row_number() OVER () AS rid, s.id, coalesce(s.key, s.id::text) AS key, s.ekey, s.txt, s.blk
            FROM pg_temp.%2$I AS s
        ),
        long_texts AS (
            SELECT s.rid, s.key, s.id, s.txt FROM src AS s WHERE char_length(s.txt) > %1$s / 2
        ),
        chunks AS (
            SELECT r.rid, r.key, r.id, btrim(c.chunk) AS chunk, count(*) OVER (PARTITION BY r.rid) AS n
            FROM long_texts AS r
            -- replace() per mark, not one translate(): 4x faster on 1.5 KB letters (translate walks its list per
            -- character)
            CROSS JOIN LATERAL string_to_table(
                replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
                    replace(r.txt, '!', '.'), '?', '.'), ';', '.'), E'\u3002', '.'), E'\n', '.'), E'\r', '.'),
                    E'\u0964', '.'), E'\u0965', '.'), E'\u06D4', '.'), E'\u061F', '.'), E'\u0589', '.'),
                    E'\u1362', '.'), E'\u104B', '.'),
                '.'
            ) AS c (chunk)
            WHERE length(c.chunk) >= 12
        ),
        tokens AS (
            SELECT DISTINCT c.rid, c.key, c.id, hashtextextended(c.chunk, 0) AS h FROM chunks AS c WHERE c.n >= 2
            UNION
            SELECT b.rid, b.key, b.id, hashtextextended(b.word || ' ' || b.next_word, 0)
            FROM (
                SELECT r.rid, r.key, r.id, w.word, lead(w.word) OVER (PARTITION BY r.rid ORDER BY w.n) AS next_word
                FROM long_texts AS r
                CROSS JOIN LATERAL string_to_table(
                    translate(r.txt, E'!"#$%%&()*+,./:;<=>?@[\\]^_`{|}~\u3001\u3002\n\r', repeat(' ', 35)), ' '
                ) WITH ORDINALITY AS w (word, n)
                WHERE w.word <> '' AND NOT EXISTS (SELECT FROM chunks AS c WHERE c.rid = r.rid AND c.n >= 2)
            ) AS b
            WHERE b.next_word IS NOT NULL
        ),
        grams AS (
            SELECT DISTINCT w.rid, w.key, w.id, hashtextextended(substr(w.padded, g.i, 3), 0) AS h
            FROM (
                SELECT s.rid, s.key, s.id, '  ' || x.word || ' ' AS padded
                FROM src AS s
                CROSS JOIN LATERAL string_to_table(
                    regexp_replace(s.txt, mlops.text_separator_class() || '+', ' ', 'g'), ' ') AS x (word)
                WHERE x.word <> '' AND char_length(s.txt) <= %1$s
            ) AS w
            CROSS JOIN LATERAL generate_series(1, char_length(w.padded) - 2) AS g (i)
        )
        SELECT s.id, s.key, 'k'::"char" AS kind, hashtextextended(s.ekey, 0) AS sig, NULL::integer AS n
        FROM src AS s WHERE s.ekey IS NOT NULL
        UNION ALL
        SELECT s.id, s.key, 't', hashtextextended(s.txt, 0) # hashtextextended(coalesce(s.blk, ''), 1), NULL
        FROM src AS s WHERE s.txt IS NOT NULL
        UNION ALL
        SELECT t.id, t.key, 's', t.h, (count(*) OVER (PARTITION BY t.rid))::integer FROM tokens AS t
        UNION ALL
        SELECT g.id, g.key, 'g', g.h, (count(*) OVER (PARTITION BY g.rid))::integer FROM grams AS g
        $q$,
        v_short_chars, p_source
    );
    GET DIAGNOSTICS v_made = ROW_COUNT;
    EXECUTE 'ANALYZE pg_temp.mlops_dedup_sigs';
    RETURN v_made;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_signatures_make(text) IS
'Internal helper of mlops.dedup_detect: from the scratch table p_source (mlops_dedup_rows or mlops_dedup_fresh: id, '
'key, ekey, txt, blk, values already normalized) builds pg_temp.mlops_dedup_sigs (id bigint, key text, kind "char", '
'sig bigint, n integer), 64-bit hashes (hashtextextended): kind k of the exact key; t of the text and block; s of '
'each sentence (or pair of consecutive words, for a text of one sentence) of a text over 40 characters, n the '
'text''s number of them; g of each pg_trgm-style trigram of a text up to 80 characters, n its number of trigrams. '
'key is the row''s '
'key as text (the id''s text for integer keys). Returns the number of signatures. Another p_source: 22023.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_signatures_make(text) FROM PUBLIC;
