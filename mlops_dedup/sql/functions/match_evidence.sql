-- mlops.match_evidence: why two rows of a table match, or do not, under its dedup rule: each signal's values as
-- detection compared them (normalized; blank and placeholder values are no evidence), the text score and how it was
-- computed, and the verdict detection reaches for the pair alone. Read-only; for a person reviewing the pair.

CREATE OR REPLACE FUNCTION mlops.match_evidence(p_target regclass, p_left anycompatible, p_right anycompatible)
RETURNS TABLE (signal text, left_value text, right_value text, score real, outcome text)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule record;
    v_keys text[];
    v_evaluator text;
    v_state text;
    v_row text;
    v_left_key text;
    v_left_text text;
    v_left_block text;
    v_right_key text;
    v_right_text text;
    v_right_block text;
    v_text_score real;
    v_key_equal boolean;
    v_status text;
    v_method text;
    v_found bigint;
    v_explained record;
    v_probability double precision;
BEGIN
    PERFORM mlops.assert_table(p_target);
    SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF v_rule.target IS NULL THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, exact_key, similar_text) VALUES (...).';
    END IF;
    PERFORM mlops.key_refusal(p_target, true);
    IF p_left IS NULL OR p_right IS NULL THEN
        RAISE EXCEPTION 'match_evidence needs two keys of %, got NULL', p_target
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_keys := mlops.key_texts(p_target, ARRAY[p_left, p_right]);

    -- a learned rule: its explanation (the prior, each comparison's level and weight), then the verdict
    IF v_rule.comparisons IS NOT NULL THEN
        FOR v_explained IN SELECT x.* FROM mlops.explain_match(p_target, v_keys[1], v_keys[2]) AS x LOOP
            signal := CASE WHEN v_explained.comparison = 0 THEN 'prior'
                ELSE format('comparison %s: %s', v_explained.comparison, v_explained.expression) END;
            left_value := v_explained.left_value;
            right_value := v_explained.right_value;
            score := v_explained.weight::real;
            outcome := format('%s: weight %s bits', v_explained.label, round(v_explained.weight::numeric, 2));
            v_probability := v_explained.match_probability;
            RETURN NEXT;
        END LOOP;
        signal := 'verdict';
        left_value := v_keys[1];
        right_value := v_keys[2];
        score := v_probability::real;
        SELECT d.status INTO v_status FROM mlops.duplicate_candidates AS d
        WHERE d.target = p_target AND ARRAY[d.left_key, d.right_key] <@ v_keys
        ORDER BY d.status = 'distinct' DESC LIMIT 1;
        outcome := CASE WHEN v_status = 'distinct' THEN 'no match: a reviewer judged the pair distinct'
            WHEN v_probability >= v_rule.threshold THEN format('merge (model): match probability >= threshold %s',
                v_rule.threshold)
            WHEN v_probability >= v_rule.review_threshold THEN format('review (model): match probability in the '
                'review band [%s, %s)', v_rule.review_threshold, v_rule.threshold)
            ELSE format('no match: match probability < review_threshold %s', v_rule.review_threshold) END
            || CASE WHEN v_status IN ('pending', 'merged') THEN format('; in the review queue: %s', v_status)
                ELSE '' END;
        RETURN NEXT;
        RETURN;
    END IF;

    -- the rule's values of one row, as detection reads them (mlops.dedup_value_sql), through the rule's evaluator
    v_evaluator := mlops.dedup_rule_runnable_evaluator(p_target);
    v_row := format(
        'SELECT %1$s AS ekey, %2$s AS txt, %6$s AS blk FROM %3$s AS t'
        ' CROSS JOIN LATERAL %4$s(t.*) AS v WHERE %5$s',
        mlops.dedup_value_sql('v.ekey', v_rule.placeholders, false),
        mlops.dedup_value_sql('v.txt', v_rule.placeholders),
        p_target, v_evaluator, mlops.key_match_sql(p_target, 't', '$1', false),
        mlops.dedup_value_sql('v.blk', v_rule.placeholders));
    v_state := mlops.dedup_rule_session_state();
    EXECUTE v_row INTO v_left_key, v_left_text, v_left_block USING v_keys[1];
    GET DIAGNOSTICS v_found = ROW_COUNT;
    IF v_found = 0 THEN
        RAISE EXCEPTION 'no row of % has key %', p_target, v_keys[1] USING ERRCODE = 'no_data_found';
    END IF;
    EXECUTE v_row INTO v_right_key, v_right_text, v_right_block USING v_keys[2];
    GET DIAGNOSTICS v_found = ROW_COUNT;
    IF v_found = 0 THEN
        RAISE EXCEPTION 'no row of % has key %', p_target, v_keys[2] USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM mlops.dedup_rule_session_state(p_target, v_state, mlops.dedup_rule_session_state());

    IF nullif(btrim(v_rule.exact_key), '') IS NOT NULL THEN
        v_key_equal := v_left_key = v_right_key;
        signal := 'exact_key';
        left_value := v_left_key;
        right_value := v_right_key;
        score := CASE WHEN v_key_equal THEN 1 WHEN v_key_equal IS NOT NULL THEN 0 END;
        outcome := CASE WHEN v_key_equal IS NULL THEN 'no evidence: blank or a placeholder'
            WHEN v_key_equal THEN 'equal' ELSE 'different' END;
        RETURN NEXT;
    END IF;
    IF nullif(btrim(v_rule.block_key), '') IS NOT NULL THEN
        signal := 'block_key';
        left_value := v_left_block;
        right_value := v_right_block;
        score := NULL;
        outcome := CASE WHEN v_left_block IS NOT DISTINCT FROM v_right_block THEN 'same block'
            ELSE 'different blocks: the texts are not compared' END;
        RETURN NEXT;
    END IF;
    IF nullif(btrim(v_rule.similar_text), '') IS NOT NULL THEN
        -- identical texts score 1 without a similarity (step 2 of detection groups them), as do emoji-only ones
        IF v_left_text = v_right_text THEN
            v_text_score := 1;
        ELSE
            EXECUTE format('SELECT %s', mlops.text_similarity_sql('$1', '$2')) INTO v_text_score
                USING v_left_text, v_right_text;
        END IF;
        v_method := CASE WHEN v_left_text = v_right_text THEN 'identical texts'
            WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_trgm')
                THEN 'package trigrams (pg_trgm is not installed)'
            WHEN mlops.pg_trgm_blind() AND (v_left_text ~ '[^\x01-\x7F]' OR v_right_text ~ '[^\x01-\x7F]')
                THEN 'package trigrams (pg_trgm is blind to these letters here)'
            ELSE 'pg_trgm similarity' END;
        signal := 'similar_text';
        left_value := v_left_text;
        right_value := v_right_text;
        score := v_text_score;
        outcome := CASE WHEN v_text_score IS NULL THEN 'no evidence: blank or a placeholder'
            WHEN v_left_block IS DISTINCT FROM v_right_block THEN format('%s; not compared: different blocks', v_method)
            WHEN v_text_score >= v_rule.threshold THEN format('%s >= threshold %s', v_method, v_rule.threshold)
            WHEN v_text_score >= v_rule.review_threshold THEN format('%s in the review band [%s, %s)', v_method,
                v_rule.review_threshold, v_rule.threshold)
            ELSE format('%s < review_threshold %s', v_method, v_rule.review_threshold) END;
        RETURN NEXT;
    END IF;

    -- the verdict for this pair alone, as detection reaches it (a cluster may still give either row another survivor)
    SELECT d.status INTO v_status FROM mlops.duplicate_candidates AS d
    WHERE d.target = p_target AND d.left_key = least(v_keys[1], v_keys[2])
        AND d.right_key = greatest(v_keys[1], v_keys[2])
    ORDER BY d.status = 'distinct' DESC LIMIT 1;
    IF v_status IS NULL THEN
        -- integer keys are queued in numeric order, other keys by their row number in key order: try both ways
        SELECT d.status INTO v_status FROM mlops.duplicate_candidates AS d
        WHERE d.target = p_target AND ARRAY[d.left_key, d.right_key] <@ v_keys
        ORDER BY d.status = 'distinct' DESC LIMIT 1;
    END IF;
    signal := 'verdict';
    left_value := v_keys[1];
    right_value := v_keys[2];
    IF v_status = 'distinct' THEN
        score := NULL;
        outcome := 'no match: a reviewer judged the pair distinct';
    ELSIF v_key_equal AND v_text_score IS NOT NULL AND v_text_score < v_rule.review_threshold
        AND v_left_text <> v_right_text THEN
        score := v_text_score;
        outcome := 'review (exact_key_text_differs): the key is equal but the texts say the rows differ';
    ELSIF v_key_equal THEN
        score := 1;
        outcome := 'merge (exact_key)';
    ELSIF v_left_block IS DISTINCT FROM v_right_block OR v_text_score IS NULL THEN
        score := NULL;
        outcome := 'no match';
    ELSIF v_text_score >= v_rule.threshold THEN
        score := v_text_score;
        outcome := 'merge (similar_text)';
    ELSIF v_text_score >= v_rule.review_threshold THEN
        score := v_text_score;
        outcome := 'review (similar_text)';
    ELSE
        score := v_text_score;
        outcome := 'no match';
    END IF;
    IF v_status IN ('pending', 'merged') THEN
        outcome := format('%s; in the review queue: %s', outcome, v_status);
    END IF;
    RETURN NEXT;
END;
$$;

COMMENT ON FUNCTION mlops.match_evidence(regclass, anycompatible, anycompatible) IS
'Why two rows (keys of the key''s type, or text) match under the table''s dedup rule: rows (signal text, left_value '
'text, right_value text, score real 0-1, outcome text), one per signal of the rule: exact_key (the normalized keys, '
'score 1 equal / 0 different, NULL no evidence), block_key, similar_text (the normalized texts, their similarity and '
'how it was computed: pg_trgm or the package''s trigrams), then verdict (the keys as text; what detection does with '
'the pair alone: merge, review with its reason, or no match, and its review-queue status). A learned rule '
'(comparisons): prior and one row per comparison (score = weight in bits, outcome = level; mlops.explain_match), '
'then verdict (score = match probability). Values are those '
'detection compares (mlops.normalize_text; blank and placeholder values NULL). Changes nothing. Errors: no rule '
'42704, a key with no row P0002, a NULL key 22004, a table without a single-column primary key 0A000.';

REVOKE EXECUTE ON FUNCTION mlops.match_evidence(regclass, anycompatible, anycompatible) FROM PUBLIC;
