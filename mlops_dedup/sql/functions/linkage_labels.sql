-- mlops.linkage_labels: a learned rule's labels: the review decisions on pairs scored by a model of the same
-- comparisons (fingerprint), queued and decided by roles that may merge the table (mlops.linkage_label_trusted),
-- counted per pattern of levels. Training, scoring and explanations all read them here.

CREATE OR REPLACE FUNCTION mlops.linkage_labels(p_target regclass, p_fingerprint text)
RETURNS TABLE (levels smallint[], matches bigint, non_matches bigint)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.levels, count(*) FILTER (WHERE d.status = 'merged'), count(*) FILTER (WHERE d.status = 'distinct')
    FROM mlops.duplicate_candidates AS d
    INNER JOIN mlops.dedup_models AS dm ON d.model_id = dm.model_id
    WHERE d.target = p_target AND dm.target = p_target AND dm.fingerprint = p_fingerprint
        AND d.status IN ('merged', 'distinct') AND d.levels IS NOT NULL
        AND mlops.linkage_label_trusted(p_target, d.queued_by, d.decided_by)
    GROUP BY d.levels;
$$;

COMMENT ON FUNCTION mlops.linkage_labels(regclass, text) IS
'Internal: the labels of the learned rule of p_target, rows (levels smallint[], matches bigint, non_matches bigint): '
'per pattern of levels, how many pairs scored by a model of fingerprint p_fingerprint were decided merged and how '
'many distinct, counting only decisions mlops.linkage_label_trusted accepts.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_labels(regclass, text) FROM PUBLIC;
