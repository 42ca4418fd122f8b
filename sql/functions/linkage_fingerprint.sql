-- mlops.linkage_fingerprint: what a learned rule's model depends on: its comparisons, their types, the placeholder
-- values and the block key. A stored model serves the rule while this is unchanged; review decisions are labels for
-- the models of the same fingerprint.

CREATE OR REPLACE FUNCTION mlops.linkage_fingerprint(p_target regclass)
RETURNS text
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.md5(pg_catalog.jsonb_build_array(
        r.comparisons, r.comparison_types::text[], r.placeholders, r.block_key
    )::text)
    FROM mlops.dedup_rules AS r
    WHERE r.target OPERATOR(pg_catalog.=) p_target AND r.comparisons IS NOT NULL;
$$;

COMMENT ON FUNCTION mlops.linkage_fingerprint(regclass) IS
'md5 (text) over what a learned rule''s model depends on: comparisons, comparison_types, placeholders, block_key; '
'NULL when the table has no rule with comparisons.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_fingerprint(regclass) FROM PUBLIC;
