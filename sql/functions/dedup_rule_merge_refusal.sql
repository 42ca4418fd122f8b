-- mlops.dedup_rule_merge_refusal: why the current role may not merge by a table's rule, or NULL. A rule chooses the
-- table that whoever runs it updates and deletes from, and updating a table runs code its owner and others attached
-- (triggers, index expressions, casts of column types) with the updater's rights. So a rule's merges run only as a
-- role whose rights the rule's writer already has: the writer itself, a role it belongs to, or when the writer is a
-- superuser. Otherwise writing a rule would lend the writer the runner's rights.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_merge_refusal(p_target regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner regrole;
BEGIN
    SELECT r.rule_owner INTO v_owner FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF v_owner IS NULL OR pg_catalog.pg_has_role(v_owner, current_user, 'USAGE') THEN
        RETURN NULL;
    END IF;
    RETURN format(
        'refusing to merge by the rule for %s as %I: its writer %s does not have the rights of %I, and merging runs '
        'code attached to the tables (triggers, index expressions, casts) with the merging role''s rights. Merge as %s '
        '(SET ROLE %s) or as a role %s belongs to; or review the table and re-write the rule as %I',
        p_target, current_user, v_owner, current_user, v_owner, v_owner, v_owner, current_user
    );
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_merge_refusal(regclass) IS
'Internal: NULL when the current role may merge by the table''s rule (the rule''s owner has the current role''s '
'rights: it is that role, belongs to it, or is a superuser; or the rule is not compiled yet), else the reason as '
'text. merge_duplicates records it as a failed run; review_candidate raises it (42501).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_merge_refusal(regclass) FROM PUBLIC;
