-- mlops.linkage_current_model: the stored model a learned rule scores with: the newest version trained for the rule
-- as it is (same fingerprint) by a role with the rights of the rule's owner. Models written otherwise (before an
-- owner changed, or by hand as the package owner) are passed over.

CREATE OR REPLACE FUNCTION mlops.linkage_current_model(p_target regclass, p_fingerprint text)
RETURNS bigint
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT d.model_id
    FROM mlops.dedup_models AS d
    INNER JOIN mlops.dedup_rules AS r ON d.target OPERATOR(pg_catalog.=) r.target
    WHERE d.target OPERATOR(pg_catalog.=) p_target AND d.fingerprint OPERATOR(pg_catalog.=) p_fingerprint
        AND pg_catalog.to_regrole(pg_catalog.quote_ident(d.trained_by)) IS NOT NULL
        AND pg_catalog.pg_has_role(pg_catalog.to_regrole(pg_catalog.quote_ident(d.trained_by)), r.rule_owner, 'USAGE')
    ORDER BY d.version DESC
    LIMIT 1;
$$;

COMMENT ON FUNCTION mlops.linkage_current_model(regclass, text) IS
'Internal: the model_id (bigint) of the newest model of p_target with fingerprint p_fingerprint '
'(mlops.linkage_fingerprint) whose trained_by has the rights of the rule''s rule_owner; NULL when there is none.';

REVOKE EXECUTE ON FUNCTION mlops.linkage_current_model(regclass, text) FROM PUBLIC;
