-- mlops.match_probability: a match weight (bits: log2 of the odds) as a probability.

CREATE OR REPLACE FUNCTION mlops.match_probability(p_weight double precision)
RETURNS double precision
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    -- 2^-w overflows past 1024 bits: beyond 60 either way the probability is 0 or 1 in double precision
    SELECT CASE
        WHEN p_weight OPERATOR(pg_catalog.>) 60 THEN 1::double precision
        WHEN p_weight OPERATOR(pg_catalog.<) -60 THEN 0::double precision
        ELSE 1 OPERATOR(pg_catalog./) (1 OPERATOR(pg_catalog.+) pg_catalog.power(2::double precision,
            OPERATOR(pg_catalog.-) p_weight))
    END;
$$;

COMMENT ON FUNCTION mlops.match_probability(double precision) IS
'Immutable: the match probability (0-1) of a match weight p_weight in bits (log2 odds): 1 / (1 + 2^-w). '
'Source: Fellegi and Sunter 1969, as Splink reports it.';

REVOKE EXECUTE ON FUNCTION mlops.match_probability(double precision) FROM PUBLIC;
