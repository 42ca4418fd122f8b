-- mlops.dedup_linkage_edges: the learned half of a detection pass. From the pass's rows (pg_temp.mlops_dedup_rows,
-- with their comparison values) it makes the candidate pairs (mlops.linkage_pairs), takes the rule's stored model
-- (the newest version trained for the rule as it is now) or estimates one (mlops.linkage_estimate: when there is
-- none, or p_train), stores it when asked, and scores every candidate pair: its match probability is the edge's
-- score (reason 'model'); pairs below review_threshold are dropped. The model's levels stay in
-- pg_temp.mlops_linkage_model for the pass (review pairs, explanations).

CREATE OR REPLACE FUNCTION mlops.dedup_linkage_edges(
    p_target regclass,
    p_train boolean,
    p_store boolean,
    p_seed integer DEFAULT 1,
    OUT kinds text[],
    OUT model_id bigint,
    OUT candidate_pairs bigint,
    OUT trained boolean
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_rule record;
    v_model record;
    v_estimate record;
    v_fingerprint text;
    -- a blocking key (two comparisons' values) shared by more rows than this is a common combination, not evidence
    v_pair_cap CONSTANT integer := 50;
    -- ... and a single comparison's value, more than this (a value this rare is an identifier: a number, an email)
    v_single_cap CONSTANT integer := 5;
    -- random pairs for the u probabilities
    v_random_pairs CONSTANT integer := 50000;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text,'
        ' cmp text[])';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_edges (a bigint, b bigint, score real, reason text)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_pairs (a bigint, b bigint, levels smallint[])';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_model (comparison integer, level smallint, label text,'
        ' m double precision, u double precision)';
    SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    v_fingerprint := mlops.linkage_fingerprint(p_target);
    SELECT d.* INTO v_model FROM mlops.dedup_models AS d
    WHERE d.target = p_target AND d.fingerprint = v_fingerprint
    ORDER BY d.version DESC LIMIT 1;
    trained := p_train OR v_model.model_id IS NULL;
    kinds := CASE WHEN trained THEN mlops.comparison_kinds(v_rule.comparison_types) ELSE v_model.kinds END;
    candidate_pairs := mlops.linkage_pairs(kinds, v_pair_cap, v_single_cap);

    IF trained THEN
        SELECT e.* INTO v_estimate
        FROM mlops.linkage_estimate(p_target, kinds, v_fingerprint, p_seed, v_random_pairs) AS e;
        IF p_store THEN
            -- one version number per table at a time
            PERFORM pg_advisory_xact_lock(hashtextextended('mlops.dedup_models ' || p_target::oid, 0));
            INSERT INTO mlops.dedup_models (target, version, fingerprint, comparisons, kinds, prior_probability, live_rows,
                candidate_pairs, random_pairs, labelled_matches, labelled_distinct, iterations, converged, seed)
            SELECT p_target, coalesce(max(d.version), 0) + 1, v_fingerprint, v_rule.comparisons,
                dedup_linkage_edges.kinds, v_estimate.prior, (SELECT count(*) FROM pg_temp.mlops_dedup_rows),
                dedup_linkage_edges.candidate_pairs,
                v_estimate.random_pairs, v_estimate.labelled_matches, v_estimate.labelled_distinct,
                v_estimate.iterations, v_estimate.converged, p_seed
            FROM mlops.dedup_models AS d WHERE d.target = p_target
            RETURNING dedup_models.model_id INTO model_id;
            INSERT INTO mlops.dedup_model_levels (model_id, comparison, level, label, m, u)
            SELECT dedup_linkage_edges.model_id, o.comparison, o.level, o.label, o.m, o.u
            FROM pg_temp.mlops_linkage_model AS o
            WHERE o.comparison > 0;
        END IF;
    ELSE
        model_id := v_model.model_id;
        PERFORM mlops.linkage_model_load(v_model.model_id);
    END IF;

    -- training only: nothing to score
    IF p_train THEN
        RETURN;
    END IF;
    -- each distinct pattern of levels scored once: prior odds and every level's weight, as a probability, then
    -- leaning towards what review decisions on pairs of the same levels said (mlops.linkage_labelled_probability)
    INSERT INTO pg_temp.mlops_dedup_edges (a, b, score, reason)
    SELECT p.a, p.b, s.probability, 'model'
    FROM pg_temp.mlops_linkage_pairs AS p
    INNER JOIN (
        SELECT q.levels, mlops.linkage_labelled_probability(
            mlops.match_probability(sum(ln(o.m / o.u)) / ln(2::double precision)), max(l.matches), max(l.non_matches)
        )::real AS probability
        FROM (SELECT DISTINCT p2.levels FROM pg_temp.mlops_linkage_pairs AS p2) AS q
        CROSS JOIN LATERAL (
            SELECT 0 AS comparison, 0::smallint AS level
            UNION ALL
            SELECT x.i::integer, x.level FROM unnest(q.levels) WITH ORDINALITY AS x (level, i)
            WHERE x.level IS NOT NULL
        ) AS e
        INNER JOIN pg_temp.mlops_linkage_model AS o ON o.comparison = e.comparison AND o.level = e.level
        LEFT JOIN (
            SELECT d.levels, count(*) FILTER (WHERE d.status = 'merged') AS matches,
                count(*) FILTER (WHERE d.status = 'distinct') AS non_matches
            FROM mlops.duplicate_candidates AS d
            INNER JOIN mlops.dedup_models AS dm ON dm.model_id = d.model_id
            WHERE d.target = p_target AND dm.target = p_target AND dm.fingerprint = v_fingerprint
                AND d.status IN ('merged', 'distinct')
            GROUP BY d.levels
        ) AS l ON l.levels = q.levels
        GROUP BY q.levels
    ) AS s ON s.levels = p.levels
    WHERE s.probability >= v_rule.review_threshold;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_linkage_edges(regclass, boolean, boolean, integer) IS
'Internal, detection of a learned rule (comparisons set): candidate pairs (mlops.linkage_pairs), the model (stored '
'in mlops.dedup_models for the rule''s fingerprint, or estimated by mlops.linkage_estimate when there is none or '
'p_train, with seed p_seed, and stored when p_store), and, unless p_train (training only), an edge in '
'pg_temp.mlops_dedup_edges (a, b, score = match probability 0-1, reason ''model'') per candidate pair at or above '
'review_threshold. Returns kinds (text[]), model_id (NULL: estimated for this pass only), candidate_pairs, trained '
'(whether estimated now).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_linkage_edges(regclass, boolean, boolean, integer) FROM PUBLIC;
