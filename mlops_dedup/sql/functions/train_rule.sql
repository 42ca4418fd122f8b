-- mlops.train_rule: estimates a learned rule's model from its table and the review decisions made on its pairs, and
-- stores it as the rule's next version (mlops.dedup_models, mlops.dedup_model_levels). Detection scores with the
-- newest version while the rule's comparisons are unchanged. Deterministic for a seed.

CREATE OR REPLACE FUNCTION mlops.train_rule(p_target regclass, p_seed integer DEFAULT 1)
RETURNS TABLE (
    version integer,
    model_id bigint,
    live_rows bigint,
    candidate_pairs bigint,
    random_pairs bigint,
    labelled_matches integer,
    labelled_distinct integer,
    iterations integer,
    converged boolean,
    prior double precision,
    random_pair_prior double precision,
    seconds double precision
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_started CONSTANT timestamptz := clock_timestamp();
    v_model bigint;
    v_owner regrole;
BEGIN
    PERFORM mlops.assert_table(p_target);
    IF p_seed IS NULL THEN
        RAISE EXCEPTION 'train_rule needs a seed, got NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = p_target) THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, comparisons) VALUES (...).';
    END IF;
    IF NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = p_target AND r.comparisons IS NOT NULL) THEN
        RAISE EXCEPTION 'the dedup rule for % has no comparisons: nothing to train', p_target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = format('UPDATE mlops.dedup_rules SET exact_key = NULL, similar_text = NULL, comparisons = '
                'ARRAY[''t.col1'', ''t.col2''] WHERE target = %L::regclass;', p_target);
    END IF;
    SELECT r.rule_owner INTO v_owner FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF NOT pg_has_role(current_user, v_owner, 'USAGE') THEN
        RAISE EXCEPTION 'train_rule: role % does not have the rights of %, the owner of the rule for %', current_user,
            v_owner, p_target
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A rule''s model decides what merges, as its thresholds do: only roles with the rights of the '
                'rule''s owner write it.',
            HINT = format('Train as %s, or GRANT %s TO %s.', v_owner, v_owner, current_user);
    END IF;
    SELECT d.model_id INTO v_model FROM mlops.dedup_detect(p_target, false, true, true, p_seed) AS d;
    -- what a model learned from too little data, or from a table without duplicates, is said, not hidden
    PERFORM mlops.linkage_model_warnings(v_model);
    RETURN QUERY
    SELECT d.version, d.model_id, d.live_rows, d.candidate_pairs, d.random_pairs, d.labelled_matches,
        d.labelled_distinct, d.iterations, d.converged, d.prior_probability, d.random_pair_prior,
        extract(EPOCH FROM clock_timestamp() - v_started)::double precision
    FROM mlops.dedup_models AS d WHERE d.model_id = v_model;
END;
$$;

COMMENT ON FUNCTION mlops.train_rule(regclass, integer) IS
'Trains the model of the table''s learned rule (comparisons set) and stores it as the rule''s next version: u '
'probabilities from value frequencies and random pairs, m probabilities and the prior by EM over the candidate '
'pairs, review decisions (merged / distinct) on the rule''s earlier pairs as labels (mlops.linkage_estimate). '
'Returns one row: version, model_id, live_rows, candidate_pairs, random_pairs (for u), labelled_matches, '
'labelled_distinct, iterations (EM rounds), converged, prior (probability 0-1 that a candidate pair matches), '
'random_pair_prior (that two rows drawn at random match: where a pair''s score starts), seconds. The same data and '
'p_seed give the same model. Levels: mlops.dedup_model_levels. Errors: no rule 42704, a rule without comparisons '
'22023, a caller without the rights of the rule''s owner 42501, NULL seed 22004, another session storing a model '
'meanwhile 40001. Source: Fellegi and Sunter 1969 (EM: Winkler 1988).';

REVOKE EXECUTE ON FUNCTION mlops.train_rule(regclass, integer) FROM PUBLIC;
