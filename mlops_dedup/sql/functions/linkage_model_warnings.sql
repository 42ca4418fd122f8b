-- mlops.linkage_model_warnings: WARNINGs about a model that should not be trusted as it is: learned from few rows or
-- candidate pairs, EM that did not converge, or a prior at an edge (almost no candidate pair a match: the table has
-- few duplicates left, and the m estimates mean little; or almost all of them: the comparisons do not tell records
-- apart). train_rule and a run that trains say them; detection scores with the model anyway.

CREATE OR REPLACE FUNCTION mlops.linkage_model_warnings(p_model_id bigint)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_model record;
BEGIN
    SELECT d.* INTO v_model FROM mlops.dedup_models AS d WHERE d.model_id = p_model_id;
    IF v_model.model_id IS NULL THEN
        RETURN;
    END IF;
    IF v_model.live_rows < 1000 OR v_model.candidate_pairs < 100 THEN
        RAISE WARNING 'model % of % is learned from % rows and % candidate pairs: too few to estimate it well',
            v_model.version, v_model.target, v_model.live_rows, v_model.candidate_pairs
            USING HINT = 'Check its pairs with mlops.find_duplicates and mlops.explain_match before merging.';
    END IF;
    IF NOT v_model.converged THEN
        RAISE WARNING 'model % of %: EM did not converge in % rounds', v_model.version, v_model.target,
            v_model.iterations;
    END IF;
    IF v_model.prior_probability < 1e-4 THEN
        RAISE WARNING 'model % of % finds almost no matches among % candidate pairs (prior %)', v_model.version,
            v_model.target, v_model.candidate_pairs, v_model.prior_probability
            USING HINT = 'A table already deduplicated teaches little: keep the earlier version (DELETE this one from '
                'mlops.dedup_models) or add comparisons.';
    ELSIF v_model.prior_probability > 0.5 THEN
        RAISE WARNING 'model % of % takes most candidate pairs (% of %) for matches', v_model.version,
            v_model.target, round(v_model.prior_probability::numeric, 3), v_model.candidate_pairs
            USING HINT = 'The comparisons may not tell records apart: add fields that differ between people or '
                'things, and check pairs with mlops.explain_match before merging.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.linkage_model_warnings(bigint) IS
'Internal, mlops.train_rule and a run that trains (mlops.dedup_linkage_edges): raises WARNINGs (no error) about '
'model p_model_id: fewer than 1,000 rows or 100 candidate pairs, EM not converged, a prior (share of matches among '
'candidate pairs) below 1e-4 or above 0.5.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_model_warnings(bigint) FROM PUBLIC;
