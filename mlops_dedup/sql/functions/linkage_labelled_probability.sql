-- mlops.linkage_labelled_probability: a pattern's match probability once review decisions on pairs of the same
-- levels are counted: the model's probability is a prior worth 4 decisions, the decisions its evidence (the mean of
-- a Beta(4p, 4(1 - p)) prior updated with the labels). Pairs with the same levels are the same to the model, so what
-- people decided about some of them says most about the others.

CREATE OR REPLACE FUNCTION mlops.linkage_labelled_probability(
    p_probability double precision, p_matches bigint, p_non_matches bigint
)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN coalesce(p_matches, 0) OPERATOR(pg_catalog.+) coalesce(p_non_matches, 0) OPERATOR(pg_catalog.=) 0
            THEN p_probability
        -- never quite 0 or 1: the weight stays finite
        ELSE least(greatest(
            -- (OPERATOR() forms share one precedence, left to right: the product needs its parentheses)
            (coalesce(p_matches, 0) OPERATOR(pg_catalog.+) (4 OPERATOR(pg_catalog.*) p_probability))
            OPERATOR(pg_catalog./) (coalesce(p_matches, 0) OPERATOR(pg_catalog.+) coalesce(p_non_matches, 0)
                OPERATOR(pg_catalog.+) 4), 1e-12::double precision), 1 OPERATOR(pg_catalog.-) 1e-12::double precision)
    END;
$$;

COMMENT ON FUNCTION mlops.linkage_labelled_probability(double precision, bigint, bigint) IS
'Immutable: the match probability (0-1) of pairs whose levels the model scores p_probability, given p_matches pairs '
'of the same levels decided merged and p_non_matches decided distinct: (matches + 4p) / (matches + non_matches + 4), '
'the posterior mean of a Beta prior worth 4 decisions centred on the model; p_probability itself without decisions.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_labelled_probability(double precision, bigint, bigint) FROM PUBLIC;
