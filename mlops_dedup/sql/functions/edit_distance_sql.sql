-- mlops.edit_distance_sql: the SQL expression for the edit distance of two texts up to p_max (mlops.edit_distance's
-- semantics): fuzzystrmatch's levenshtein_less_equal (C) where fuzzystrmatch is installed, mlops.edit_distance where
-- it is not, or where a text is longer than fuzzystrmatch takes. Both give the same numbers.

CREATE OR REPLACE FUNCTION mlops.edit_distance_sql(p_left_sql text, p_right_sql text, p_max integer)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_schema name;
BEGIN
    IF p_left_sql IS NULL OR p_right_sql IS NULL OR p_max IS NULL THEN
        RAISE EXCEPTION 'edit distance SQL: the two expressions and p_max must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_max < 0 THEN
        RAISE EXCEPTION 'edit distance: p_max must be 0 or more, not %', p_max
            USING ERRCODE = 'invalid_parameter_value',
                HINT = 'p_max is the largest distance wanted exactly; larger ones come back as p_max + 1.';
    END IF;
    SELECT n.nspname INTO v_schema
    FROM pg_catalog.pg_extension AS e INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = e.extnamespace
    WHERE e.extname = 'fuzzystrmatch';
    IF v_schema IS NULL THEN
        RETURN format('mlops.edit_distance(%s, %s, %s)', p_left_sql, p_right_sql, p_max);
    END IF;
    -- levenshtein_less_equal raises for a text over 255 characters (fuzzystrmatch's MAX_LEVENSHTEIN_STRLEN): those
    -- go to mlops.edit_distance, and so does a NULL (char_length NULL), which it returns. Past max it returns "some
    -- value greater": least() makes that max + 1; as no distance of two texts of 255 characters or fewer exceeds 255,
    -- least(p_max, 255) + 1 does the same for every p_max without overflowing at 2147483647.
    RETURN format(
        'CASE WHEN pg_catalog.char_length(%1$s) <= 255 AND pg_catalog.char_length(%2$s) <= 255'
        || ' THEN least(%4$I.levenshtein_less_equal(%1$s, %2$s, %3$s), %5$s)'
        || ' ELSE mlops.edit_distance(%1$s, %2$s, %3$s) END',
        p_left_sql, p_right_sql, p_max, v_schema, least(p_max, 255) + 1);
END;
$$;

COMMENT ON FUNCTION mlops.edit_distance_sql(text, text, integer) IS
'Stable: SQL text of an expression giving the edit distance (integer, in characters) of two text expressions up to '
'p_max, as mlops.edit_distance (exact up to p_max, else p_max + 1; NULL when a text is NULL): with fuzzystrmatch '
'installed, CASE WHEN both are 255 characters or fewer THEN least(<its schema>.levenshtein_less_equal(a, b, p_max), '
'p_max + 1) ELSE mlops.edit_distance(a, b, p_max) END (C, ~0.2 µs a pair); without it mlops.edit_distance(a, b, '
'p_max) (PL/pgSQL, ~4-8 µs for 8 characters). The arguments are pasted as they are, each up to three times: pass '
'SQL the package built (a column, a normalized value), never user text. NULL argument: 22004; p_max below 0: 22023.';

REVOKE EXECUTE ON FUNCTION mlops.edit_distance_sql(text, text, integer) FROM PUBLIC;
