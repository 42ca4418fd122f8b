-- mlops.dedup_rule_fingerprint: an md5 over what decides a rule's clusters and how they merge, so a recorded
-- failure can tell whether the rule changed since. Reads only.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_fingerprint(p_target regclass)
RETURNS text
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT md5((jsonb_build_array(
        r.exact_key, r.similar_text, r.block_key, r.threshold, r.review_threshold, r.keep_order, r.soft_delete,
        r.fill_nulls
    -- comparisons only when set: the fingerprints of rules without them stay as they were
    ) || CASE WHEN r.comparisons IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(r.comparisons) END)::text)
    FROM mlops.dedup_rules AS r
    WHERE r.target = p_target;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_fingerprint(regclass) IS
'md5 (text) over the rule of p_target: exact_key, similar_text, block_key, threshold, review_threshold, keep_order, '
'soft_delete, fill_nulls, comparisons (when set); NULL when the table has no rule. Internal helper of '
'mlops.merge_duplicates (mlops.merge_failures.rule_fingerprint).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_fingerprint(regclass) FROM PUBLIC;
