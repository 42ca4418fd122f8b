-- mlops.dedup_linkage_edges: the learned half of a detection pass. From the pass's rows (pg_temp.mlops_dedup_rows,
-- with their comparison values) it makes the candidate pairs (mlops.linkage_pairs), takes the rule's stored model
-- (the newest version trained for the rule as it is now) or estimates one (mlops.linkage_estimate: when there is
-- none, or p_train), stores it when asked, and scores every candidate pair: its match probability is the edge's
-- score (reason 'model'); pairs below review_threshold are dropped. The model's levels stay in
-- pg_temp.mlops_linkage_model for the pass (review pairs, explanations).

CREATE OR REPLACE FUNCTION mlops.dedup_linkage_edges(
    p_rule mlops.dedup_rules,
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
    p_target CONSTANT regclass := p_rule.target;
    v_rule CONSTANT mlops.dedup_rules := p_rule;
    v_model record;
    v_estimate record;
    v_fingerprint text;
    v_owner_rights boolean;
    v_rows bigint;
    -- a run (not train_rule) keeps the model it estimated only from this much data
    v_min_rows CONSTANT integer := 1000;
    v_min_pairs CONSTANT integer := 100;
    -- a blocking key (two comparisons' values) shared by more rows than this is a common combination, not evidence
    v_pair_cap CONSTANT integer := 25;
    -- ... and a single comparison's value, more than this (a value this rare is an identifier: a number, an email)
    v_single_cap CONSTANT integer := 5;
    -- random pairs for the u probabilities
    v_random_pairs CONSTANT integer := 25000;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_rows (id bigint, rnk bigint, ekey text, txt text, blk text, key text,'
        ' cmp text[])';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_edges (a bigint, b bigint, score real, reason text)';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_pairs (a bigint, b bigint, levels smallint[])';
    PERFORM 'PRAGMA:TABLE: mlops_linkage_model (comparison integer, level smallint, label text,'
        ' m double precision, u double precision)';
    v_fingerprint := mlops.linkage_fingerprint(v_rule);
    SELECT d.* INTO v_model FROM mlops.dedup_models AS d
    WHERE d.model_id = mlops.linkage_current_model(p_target, v_fingerprint);
    v_owner_rights := pg_has_role(current_user, v_rule.rule_owner, 'USAGE');
    SELECT count(*) INTO v_rows FROM pg_temp.mlops_dedup_rows;
    -- a run trains when there is no model, and again when the table has more than doubled since
    trained := p_train OR v_model.model_id IS NULL
        OR (p_store AND v_owner_rights AND v_model.live_rows * 2 < v_rows);
    IF trained AND NOT p_train AND v_model.model_id IS NOT NULL THEN
        RAISE NOTICE 'the model of % is trained again: % rows now, % when version % was trained', p_target,
            v_rows, v_model.live_rows, v_model.version;
    END IF;
    kinds := CASE WHEN trained THEN mlops.comparison_kinds(v_rule.comparison_types) ELSE v_model.kinds END;
    candidate_pairs := mlops.linkage_pairs(kinds, v_pair_cap, v_single_cap);

    IF trained THEN
        SELECT e.* INTO v_estimate
        FROM mlops.linkage_estimate(p_target, kinds, v_fingerprint, p_seed, v_random_pairs) AS e;
        IF p_store AND NOT p_train AND NOT v_owner_rights THEN
            RAISE NOTICE 'the model of % is estimated for this run only: models are written by roles with the rights '
                'of the rule''s owner %', p_target, v_rule.rule_owner
                USING HINT = format('As %s: SELECT * FROM mlops.train_rule(%L);', v_rule.rule_owner, p_target::text);
        ELSIF p_store AND NOT p_train AND (v_rows < v_min_rows OR candidate_pairs < v_min_pairs) THEN
            RAISE NOTICE 'the model of % is estimated for this run only: % rows and % candidate pairs are too few to '
                'keep one (% rows and % pairs)', p_target, v_rows, candidate_pairs, v_min_rows, v_min_pairs
                USING HINT = format('SELECT * FROM mlops.train_rule(%L) stores one anyway.', p_target::text);
        END IF;
        IF p_store AND v_owner_rights AND (p_train OR (v_rows >= v_min_rows AND candidate_pairs >= v_min_pairs)) THEN
            -- one version number per table at a time
            PERFORM pg_advisory_xact_lock(hashtextextended('mlops.dedup_models ' || p_target::oid, 0));
            BEGIN
                INSERT INTO mlops.dedup_models (target, version, fingerprint, comparisons, kinds, prior_probability,
                    random_pair_prior, live_rows, candidate_pairs, random_pairs, labelled_matches, labelled_distinct,
                    iterations, converged, seed)
                SELECT p_target, coalesce(max(d.version), 0) + 1, v_fingerprint, v_rule.comparisons,
                    dedup_linkage_edges.kinds, v_estimate.prior, v_estimate.random_pair_prior, v_rows,
                    dedup_linkage_edges.candidate_pairs, v_estimate.random_pairs, v_estimate.labelled_matches,
                    v_estimate.labelled_distinct, v_estimate.iterations, v_estimate.converged, p_seed
                FROM mlops.dedup_models AS d WHERE d.target = p_target
                RETURNING dedup_models.model_id INTO model_id;
            EXCEPTION WHEN unique_violation THEN
                -- a transaction whose snapshot predates another one's model (REPEATABLE READ)
                RAISE EXCEPTION 'another session stored a model of % while this one trained', p_target
                    USING ERRCODE = 'serialization_failure', HINT = 'Train again: SELECT * FROM mlops.train_rule(...).';
            END;
            INSERT INTO mlops.dedup_model_levels (model_id, comparison, level, label, m, u)
            SELECT dedup_linkage_edges.model_id, o.comparison, o.level, o.label, o.m, o.u
            FROM pg_temp.mlops_linkage_model AS o
            WHERE o.comparison > 0;
            -- a run that trained says what is doubtful about the model it merges with
            IF NOT p_train THEN
                PERFORM mlops.linkage_model_warnings(dedup_linkage_edges.model_id);
            END IF;
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
        LEFT JOIN mlops.linkage_labels(p_target, v_fingerprint) AS l ON l.levels = q.levels
        GROUP BY q.levels
    ) AS s ON s.levels = p.levels
    WHERE s.probability >= v_rule.review_threshold;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_linkage_edges(mlops.dedup_rules, boolean, boolean, integer) IS
'Internal, detection of a learned rule (comparisons set): candidate pairs (mlops.linkage_pairs), the model (stored '
'in mlops.dedup_models for the rule''s fingerprint, or estimated by mlops.linkage_estimate when there is none or '
'p_train, with seed p_seed, and stored when p_store), and, unless p_train (training only), an edge in '
'pg_temp.mlops_dedup_edges (a, b, score = match probability 0-1, reason ''model'') per candidate pair at or above '
'review_threshold. Returns kinds (text[]), model_id (NULL: estimated for this pass only), candidate_pairs, trained '
'(whether estimated now).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_linkage_edges(mlops.dedup_rules, boolean, boolean, integer) FROM PUBLIC;
