-- mlops.key_spelling_sql: SQL that reduces a key written as text (a declared reference's text column, a key inside
-- a json document) to one spelling per key, so that 'B1FF…', '{b1ff…}' and 'b1ff…' are all the uuid b1ff…, and 'bonap'
-- is the citext key 'BONAP': the forms the key type's input accepts for one value, for the types that have several.

CREATE OR REPLACE FUNCTION mlops.key_spelling_sql(p_target regclass, p_text_sql text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_base regtype := mlops.key_base_type(p_target);
BEGIN
    IF v_base = 'pg_catalog.uuid'::regtype THEN
        -- uuid input takes upper case, braces, no hyphens and surrounding blanks
        RETURN format('pg_catalog.replace(pg_catalog.lower(pg_catalog.btrim(%s, '' {}'')), ''-'', '''')', p_text_sql);
    END IF;
    IF v_base = 'pg_catalog.bpchar'::regtype THEN
        RETURN format('pg_catalog.rtrim(%s)', p_text_sql);  -- char(n) equality ignores trailing blanks
    END IF;
    IF v_base IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype) THEN
        -- integer input takes blanks, a sign and leading zeros ('+007' is 7)
        RETURN format('CASE WHEN %1$s ~ ''^\s*[+-]?[0-9]+\s*$'' THEN ((%1$s)::pg_catalog.numeric)::pg_catalog.text'
            ' ELSE %1$s END', p_text_sql);
    END IF;
    IF NOT mlops.key_text_is_canonical(p_target)
        AND (SELECT t.typcategory FROM pg_catalog.pg_type AS t WHERE t.oid = v_base) = 'S' THEN
        RETURN format('pg_catalog.lower(%s)', p_text_sql);  -- a case-insensitive string key (citext)
    END IF;
    RETURN p_text_sql;
END;
$$;

COMMENT ON FUNCTION mlops.key_spelling_sql(regclass, text) IS
'Internal: SQL text that maps p_text_sql (a key of p_target written as text) to one spelling per key value: uuid '
'lower case without braces, hyphens and blanks; char(n) without trailing blanks; integers as numbers (blanks, '
'sign, leading zeros); case-insensitive string keys (citext) lower case; other keys as they are (numeric keys must be '
'written as the key''s own text). Applied to both sides when a declared reference compares text.';

REVOKE EXECUTE ON FUNCTION mlops.key_spelling_sql(regclass, text) FROM PUBLIC;
