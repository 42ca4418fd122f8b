-- mlops.linkage_fingerprint: what a learned rule's model depends on: its comparisons, their types, the placeholder
-- values and the block key. A stored model serves the rule while this is unchanged; review decisions are labels for
-- the models of the same fingerprint. Takes the rule's row as the caller read it (one snapshot for a whole pass).

CREATE OR REPLACE FUNCTION mlops.linkage_fingerprint(p_rule mlops.dedup_rules)
RETURNS text
LANGUAGE sql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN (p_rule).comparisons IS NOT NULL THEN pg_catalog.md5(pg_catalog.jsonb_build_array(
        (p_rule).comparisons, (p_rule).comparison_types::text [], (p_rule).placeholders, (p_rule).block_key
    )::text) END;
$$;

COMMENT ON FUNCTION mlops.linkage_fingerprint(mlops.dedup_rules) IS
'md5 (text) over what a learned rule''s model depends on, from the rule''s row: comparisons, comparison_types, '
'placeholders, block_key; NULL for a rule without comparisons.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_fingerprint(mlops.dedup_rules) FROM PUBLIC;
