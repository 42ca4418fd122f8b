-- mlops.explain_match: why a learned rule scores two rows as it does: each comparison's values, level and weight, the
-- prior, and the total match weight and probability. The weights add up: match_weight is the sum of the rows'
-- weights, match_probability = 1 / (1 + 2^-match_weight), the score detection gives the pair. Read-only.

CREATE OR REPLACE FUNCTION mlops.explain_match(p_target regclass, p_left anycompatible, p_right anycompatible)
RETURNS TABLE (
    comparison integer,
    expression text,
    left_value text,
    right_value text,
    level smallint,
    label text,
    m double precision,
    u double precision,
    weight double precision,
    match_weight double precision,
    match_probability double precision,
    model_version integer
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_rule mlops.dedup_rules;
    v_model record;
    v_keys text[];
    v_kinds text[];
    v_row text;
    v_state text;
    v_left text[];
    v_right text[];
    v_levels smallint[];
    v_found bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_linkage_model (comparison integer, level smallint, label text,'
        ' m double precision, u double precision)';
    PERFORM mlops.assert_table(p_target);
    SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF v_rule.target IS NULL THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, comparisons) VALUES (...).';
    END IF;
    IF v_rule.comparisons IS NULL THEN
        RAISE EXCEPTION 'the dedup rule for % has no comparisons: nothing is weighed', p_target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = format('SELECT * FROM mlops.match_evidence(%L, <key>, <key>) explains key and text rules.',
                p_target::text);
    END IF;
    PERFORM mlops.key_refusal(p_target, true);
    IF p_left IS NULL OR p_right IS NULL THEN
        RAISE EXCEPTION 'explain_match needs two keys of %, got NULL', p_target
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_keys := mlops.key_texts(p_target, ARRAY[p_left, p_right]);

    -- the model: the rule's newest stored version, else one estimated now from the table (a read-only pass)
    SELECT d.* INTO v_model FROM mlops.dedup_models AS d
    WHERE d.model_id = mlops.linkage_current_model(p_target, mlops.linkage_fingerprint(v_rule));
    IF v_model.model_id IS NULL THEN
        PERFORM mlops.dedup_detect(p_target);
        v_kinds := mlops.comparison_kinds(v_rule.comparison_types);
    ELSE
        PERFORM mlops.linkage_model_load(v_model.model_id);
        v_kinds := v_model.kinds;
    END IF;

    -- the two rows' comparison values as detection reads them, through the rule's evaluator
    v_row := format(
        'SELECT %1$s FROM %2$s AS t CROSS JOIN LATERAL %3$s(t.*) AS v WHERE %4$s',
        mlops.comparison_values_sql('v.cmp', v_rule.comparison_types, v_rule.placeholders), p_target,
        mlops.dedup_rule_runnable_evaluator(p_target), mlops.key_match_sql(p_target, 't', '$1', false)
    );
    v_state := mlops.dedup_rule_session_state();
    EXECUTE v_row INTO v_left USING v_keys[1];
    GET DIAGNOSTICS v_found = ROW_COUNT;
    IF v_found = 0 THEN
        RAISE EXCEPTION 'no row of % has key %', p_target, v_keys[1] USING ERRCODE = 'no_data_found';
    END IF;
    EXECUTE v_row INTO v_right USING v_keys[2];
    GET DIAGNOSTICS v_found = ROW_COUNT;
    IF v_found = 0 THEN
        RAISE EXCEPTION 'no row of % has key %', p_target, v_keys[2] USING ERRCODE = 'no_data_found';
    END IF;
    PERFORM mlops.dedup_rule_session_state(p_target, v_state, mlops.dedup_rule_session_state());
    EXECUTE format('SELECT %s', mlops.comparison_levels_sql(v_kinds, '$1', '$2')) INTO v_levels
        USING v_left, v_right;

    RETURN QUERY
    WITH compared AS (
        SELECT 0 AS comparison, 'prior: the chance that two rows drawn at random match'::text AS expression,
            NULL::text AS left_value, NULL::text AS right_value, 0::smallint AS level
        UNION ALL
        SELECT c.i::integer, c.expression, v_left[c.i], v_right[c.i], v_levels[c.i]
        FROM unnest(v_rule.comparisons) WITH ORDINALITY AS c (expression, i)
    ),
    weighed AS (
        SELECT r.*, o.label, o.m, o.u,
            -- no evidence weighs nothing
            coalesce(ln(o.m / o.u) / ln(2::double precision), 0) AS weight
        FROM compared AS r
        LEFT JOIN pg_temp.mlops_linkage_model AS o ON o.comparison = r.comparison AND o.level = r.level
    ),
    -- review decisions on pairs of the same levels (as detection counts them: mlops.dedup_linkage_edges)
    labels AS (
        SELECT coalesce(sum(l.matches), 0)::bigint AS matches, coalesce(sum(l.non_matches), 0)::bigint AS non_matches
        FROM mlops.linkage_labels(p_target, mlops.linkage_fingerprint(v_rule)) AS l
        WHERE l.levels = v_levels
    ),
    scored AS (
        SELECT l.matches, l.non_matches, t.model_weight, mlops.linkage_labelled_probability(
            mlops.match_probability(t.model_weight), l.matches, l.non_matches
        ) AS probability
        FROM (SELECT sum(w.weight) AS model_weight FROM weighed AS w) AS t CROSS JOIN labels AS l
    ),
    explained AS (
        SELECT w.comparison, w.expression, w.left_value, w.right_value, w.level,
            coalesce(w.label, 'no evidence: missing on either side') AS label, w.m, w.u, w.weight
        FROM weighed AS w
        UNION ALL
        -- what the decisions add, so the weights still sum to the pair's match weight
        SELECT NULL, format('review decisions on pairs with these levels: %s merged, %s distinct', s.matches,
                s.non_matches),
            NULL, NULL, NULL, 'review decisions', NULL, NULL,
            ln(s.probability / (1 - s.probability)) / ln(2::double precision) - s.model_weight
        FROM scored AS s
        WHERE s.matches + s.non_matches > 0
    )
    SELECT x.comparison, x.expression, x.left_value, x.right_value, x.level, x.label, x.m, x.u, x.weight,
        sum(x.weight) OVER (), s.probability, v_model.version
    FROM explained AS x CROSS JOIN scored AS s
    ORDER BY x.comparison NULLS LAST;
END;
$$;

COMMENT ON FUNCTION mlops.explain_match(regclass, anycompatible, anycompatible) IS
'Why the table''s learned rule scores two rows (keys of the key''s type, or text) as it does: rows (comparison '
'integer, expression text, left_value text, right_value text, level smallint, label text, m double precision, u '
'double precision, weight double precision, match_weight double precision, match_probability double precision, '
'model_version integer): comparison 0 is the prior (weight: log2 of the prior odds), then one row per comparison '
'with the values detection compares, the level (NULL: missing on either side, weight 0), its m and u and weight '
'(log2 m/u, bits), and a last row (comparison NULL) when people decided pairs of the same levels: what their '
'decisions add (mlops.linkage_labelled_probability). match_weight (bits) is the sum of the weights and '
'match_probability (0-1) the pair''s score in detection. The model is the rule''s newest stored version '
'(model_version), else one estimated from the table now (model_version NULL). Changes nothing. Errors: no rule '
'42704, a rule without comparisons 22023, a key with no row P0002, a NULL key 22004.';

REVOKE EXECUTE ON FUNCTION mlops.explain_match(regclass, anycompatible, anycompatible) FROM PUBLIC;
