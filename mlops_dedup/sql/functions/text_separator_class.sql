-- mlops.text_separator_class: the characters that separate words, as one regular-expression bracket expression,
-- written out by code point so it means the same under every LC_CTYPE (pg_trgm's and the regex engine's own
-- classes follow the locale, and see no letter outside ASCII under 'C').

CREATE OR REPLACE FUNCTION mlops.text_separator_class()
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- ASCII and Latin-1 punctuation, symbols, controls and spaces; general punctuation, super- and subscripts,
-- currency, letterlike symbols, number forms, arrows, mathematical and technical symbols, box drawing, shapes,
-- dingbats, supplemental punctuation; CJK symbols and punctuation (、。「」〈〉…), vertical and small forms,
-- variation selectors, full-width and half-width punctuation; emoji and pictographs. Letters, digits and combining
-- marks of every script are word characters.
AS $$
    SELECT '[\x01-\x2F\x3A-\x40\x5B-\x60\x7B-\xBF\xD7\xF7\u2000-\u2BFF\u2E00-\u2E7F\u3000-\u3004\u3008-\u3020'
        || '\u3030\u303D-\u303F\uFE00-\uFE1F\uFE30-\uFE6F\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65'
        || '\U0001F000-\U0001FAFF]';
$$;

COMMENT ON FUNCTION mlops.text_separator_class() IS
'Immutable: a regular-expression bracket expression (text) matching one word separator: every character that is not '
'a letter, digit or combining mark, listed by code point (ASCII and Latin-1 punctuation and symbols, U+2000-U+2BFF, '
'U+2E00-U+2E7F, CJK punctuation U+3000-U+303F but the iteration marks, full-width punctuation, emoji), so that it '
'does not depend on LC_CTYPE. Used by mlops.normalize_text and mlops.text_trigrams.';

REVOKE EXECUTE ON FUNCTION mlops.text_separator_class() FROM PUBLIC;
