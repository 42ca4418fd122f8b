-- mlops.dedup_value_sql: the SQL expression detection reads one of a rule's values with: normalized
-- (mlops.normalize_text), and NULL when blank or when it is one of the rule's placeholders, so that neither is ever
-- evidence that two rows are the same.

CREATE OR REPLACE FUNCTION mlops.dedup_value_sql(p_value_sql text, p_placeholders text[])
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_skeletons text[];
    v_longest integer;
BEGIN
    SELECT array_agg(DISTINCT mlops.text_skeleton(p.value)) FILTER (WHERE mlops.text_skeleton(p.value) IS NOT NULL),
        max(char_length(mlops.normalize_text(p.value)))
    INTO v_skeletons, v_longest
    FROM unnest(p_placeholders) AS p (value);
    IF v_skeletons IS NULL THEN
        RETURN format('mlops.normalize_text(%s)', p_value_sql);
    END IF;
    -- a placeholder is short: longer values are not compared with them (text_skeleton is a regular expression)
    RETURN format(
        '(SELECT CASE WHEN char_length(x.v) <= %2$s AND mlops.text_skeleton(x.v) = ANY (%3$L::text[]) THEN NULL'
        ' ELSE x.v END FROM (SELECT mlops.normalize_text(%1$s)) AS x (v))',
        p_value_sql, v_longest * 2 + 8, v_skeletons);
END;
$$;

COMMENT ON FUNCTION mlops.dedup_value_sql(text, text[]) IS
'Stable: SQL text of an expression reading a rule value (text expression p_value_sql) as detection compares it: '
'mlops.normalize_text, NULL when blank (no letter or digit) or equal, letters and digits only '
'(mlops.text_skeleton), to one of p_placeholders (e.g. {N/A,unknown,-}). The expression is pasted as it is: pass '
'SQL the package built, never user text.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_value_sql(text, text[]) FROM PUBLIC;
