-- mlops.dedup_rule_check_comparisons: what a rule's comparisons list must be before it is compiled: not empty, no
-- blank or NULL entry, at most 16 entries (candidate pairs come from pairs of comparisons, and EM reads every
-- comparison of every candidate pattern: the patterns multiply with the comparisons), and not beside exact_key
-- or similar_text (a learned rule weighs every field itself; a key is one comparison among the others).

CREATE OR REPLACE FUNCTION mlops.dedup_rule_check_comparisons(
    p_target regclass, p_comparisons text[], p_exact_key text, p_similar_text text
)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_blank integer;
BEGIN
    IF cardinality(p_comparisons) = 0 THEN
        RAISE EXCEPTION 'dedup rule for %: comparisons is empty', p_target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'List one SQL expression per field compared, e.g. ARRAY[''t.given_name'', ''t.surname'', '
                '''t.date_of_birth''], or set comparisons to NULL.';
    END IF;
    IF array_ndims(p_comparisons) > 1 THEN
        RAISE EXCEPTION 'dedup rule for %: comparisons must be a one-dimensional array', p_target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. ARRAY[''t.given_name'', ''t.surname''].';
    END IF;
    SELECT min(c.n) INTO v_blank
    FROM unnest(p_comparisons) WITH ORDINALITY AS c (expression, n)
    WHERE nullif(btrim(c.expression), '') IS NULL;
    IF v_blank IS NOT NULL THEN
        RAISE EXCEPTION 'dedup rule for %: comparisons[%] is empty', p_target, v_blank
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each comparison is one SQL expression over the row, alias t, e.g. t.surname.';
    END IF;
    IF cardinality(p_comparisons) > 16 THEN
        RAISE EXCEPTION 'dedup rule for %: % comparisons, at most 16', p_target, cardinality(p_comparisons)
            USING ERRCODE = 'program_limit_exceeded',
            DETAIL = 'Candidate pairs come from rows sharing the values of two comparisons: a row has n(n-1)/2 such '
                'pairs.',
            HINT = 'Compare the fields that tell records apart; concatenate minor ones into one comparison.';
    END IF;
    IF nullif(btrim(p_exact_key), '') IS NOT NULL OR nullif(btrim(p_similar_text), '') IS NOT NULL THEN
        RAISE EXCEPTION 'dedup rule for %: comparisons and % cannot be combined', p_target,
            CASE WHEN nullif(btrim(p_exact_key), '') IS NOT NULL THEN 'exact_key' ELSE 'similar_text' END
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'With comparisons the rule''s model weighs every field; thresholds are match probabilities.',
            HINT = 'Make the key one of the comparisons (e.g. ''mlops.normalize_url(t.url)'') and set exact_key and '
                'similar_text to NULL.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_check_comparisons(regclass, text[], text, text) IS
'Internal, called by the rule trigger: refuses a comparisons list (text[]) that is empty, multi-dimensional or has a '
'blank or NULL entry (22023, naming it), has more than 16 entries (54000), or is set beside exact_key or '
'similar_text (22023).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_check_comparisons(regclass, text[], text, text) FROM PUBLIC;
