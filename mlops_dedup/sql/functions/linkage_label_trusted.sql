-- mlops.linkage_label_trusted: whether a review decision counts as a learned rule's label: the role that queued the
-- pair (with its levels) and the role that decided it both exist and hold every right a merge of the table takes.
-- A role that may only read the table, or write the review queue, cannot steer what the model merges.

CREATE OR REPLACE FUNCTION mlops.linkage_label_trusted(p_target regclass, p_queued_by name, p_decided_by name)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(
        pg_catalog.to_regrole(pg_catalog.quote_ident(p_queued_by)) IS NOT NULL
        AND pg_catalog.to_regrole(pg_catalog.quote_ident(p_decided_by)) IS NOT NULL
        AND pg_catalog.cardinality(mlops.dedup_rule_missing_rights(
            pg_catalog.to_regrole(pg_catalog.quote_ident(p_queued_by)), p_target)) OPERATOR(pg_catalog.=) 0
        AND pg_catalog.cardinality(mlops.dedup_rule_missing_rights(
            pg_catalog.to_regrole(pg_catalog.quote_ident(p_decided_by)), p_target)) OPERATOR(pg_catalog.=) 0,
        false
    );
$$;

COMMENT ON FUNCTION mlops.linkage_label_trusted(regclass, name, name) IS
'Internal: true (boolean) when roles p_queued_by and p_decided_by (names, as mlops.duplicate_candidates records them) '
'exist and hold every right a merge of p_target takes (mlops.dedup_rule_missing_rights is empty for both): only then '
'is a review decision a learned rule''s label.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_label_trusted(regclass, name, name) FROM PUBLIC;
