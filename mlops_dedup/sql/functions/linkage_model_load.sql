-- mlops.linkage_model_load: a stored model's levels into pg_temp.mlops_linkage_model, the prior as comparison 0,
-- the table detection and explanations score with.

CREATE OR REPLACE FUNCTION mlops.linkage_model_load(p_model_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_linkage_model (comparison integer, level smallint, label text,'
        ' m double precision, u double precision)';
    IF to_regclass('pg_temp.mlops_linkage_model') IS NOT NULL THEN
        DROP TABLE pg_temp.mlops_linkage_model;
    END IF;
    CREATE TEMP TABLE mlops_linkage_model AS
    SELECT l.comparison, l.level, l.label, l.m, l.u
    FROM mlops.dedup_model_levels AS l WHERE l.model_id = p_model_id
    UNION ALL
    SELECT 0, 0::smallint, 'prior', d.random_pair_prior, 1 - d.random_pair_prior
    FROM mlops.dedup_models AS d WHERE d.model_id = p_model_id;
END;
$$;

COMMENT ON FUNCTION mlops.linkage_model_load(bigint) IS
'Internal: makes pg_temp.mlops_linkage_model (comparison integer, level smallint, label text, m double precision, '
'u double precision) from the stored model p_model_id (mlops.dedup_model_levels), with comparison 0 level 0 the '
'prior over all pairs (m = random_pair_prior, u = 1 - random_pair_prior).';

REVOKE EXECUTE ON FUNCTION mlops.linkage_model_load(bigint) FROM PUBLIC;
