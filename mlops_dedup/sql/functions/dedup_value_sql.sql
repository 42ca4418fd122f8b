-- mlops.dedup_value_sql: the SQL expression detection reads one of a rule's values with: normalized
-- (mlops.normalize_text), and NULL when blank or when it is one of the rule's placeholders, so that neither is ever
-- evidence that two rows are the same.

CREATE OR REPLACE FUNCTION mlops.dedup_value_sql(
    p_value_sql text, p_placeholders text[], p_fold_case boolean DEFAULT TRUE
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_skeletons text[];
    v_longest integer;
    v_normalized text;
BEGIN
    SELECT array_agg(DISTINCT mlops.text_skeleton(p.value)) FILTER (WHERE mlops.text_skeleton(p.value) IS NOT NULL),
        max(char_length(mlops.normalize_text(p.value)))
    INTO v_skeletons, v_longest
    FROM unnest(p_placeholders) AS p (value);
    -- printable ASCII without spaces or capitals, with a letter or digit, is its own normal form: no function call
    -- (6 us a value; 1M URL keys took 6 s more without this, 1.4 s with it)
    IF p_fold_case THEN
        v_normalized := format(
            $f$CASE WHEN (%1$s) !~ '[^!-@\[-~]' AND (%1$s) ~ '[a-z0-9]' THEN (%1$s)$f$
            || ' ELSE mlops.normalize_text(%1$s) END', p_value_sql);
    ELSE
        v_normalized := format(
            $f$CASE WHEN (%1$s) !~ '[^!-~]' AND (%1$s) ~ '[A-Za-z0-9]' THEN (%1$s)$f$
            || ' ELSE mlops.normalize_text(%1$s, false) END', p_value_sql);
    END IF;
    IF v_skeletons IS NULL THEN
        RETURN v_normalized;
    END IF;
    -- a placeholder is short: longer values are not compared with them (text_skeleton is a regular expression)
    RETURN format(
        '(SELECT CASE WHEN char_length(x.v) <= %2$s AND mlops.text_skeleton(x.v) = ANY (%3$L::text[]) THEN NULL'
        ' ELSE x.v END FROM (SELECT %1$s) AS x (v))',
        v_normalized, v_longest * 2 + 8, v_skeletons);
END;
$$;

COMMENT ON FUNCTION mlops.dedup_value_sql(text, text[], boolean) IS
'Stable: SQL text of an expression reading a rule value (text expression p_value_sql) as detection compares it: '
'mlops.normalize_text (without case folding for p_fold_case false: keys), NULL when blank (no letter or digit) or '
'equal, letters and digits only (mlops.text_skeleton), to one of p_placeholders (e.g. {N/A,unknown,-}). The '
'expression is pasted as it is: pass SQL the package built, never user text.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_value_sql(text, text[], boolean) FROM PUBLIC;
