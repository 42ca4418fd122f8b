-- A rule is changed or deleted only by its owner (or a role with its owner's rights): otherwise one rule writer could
-- lower another's thresholds, turn its soft delete off or delete it, and have whoever runs detection merge rows of a
-- table the first writer has no rights on. Reading and declaring rules stay open to whoever may (table privileges);
-- the package owner and superusers are not subject to row-level security.

ALTER TABLE mlops.dedup_rules ENABLE ROW LEVEL SECURITY;

CREATE POLICY dedup_rules_readable ON mlops.dedup_rules FOR SELECT
USING (TRUE);

CREATE POLICY dedup_rules_declarable ON mlops.dedup_rules FOR INSERT
WITH CHECK (TRUE);

CREATE POLICY dedup_rules_changed_by_owner ON mlops.dedup_rules FOR UPDATE
USING (pg_catalog.pg_has_role(current_user, rule_owner, 'USAGE'))
WITH CHECK (TRUE);

CREATE POLICY dedup_rules_deleted_by_owner ON mlops.dedup_rules FOR DELETE
USING (pg_catalog.pg_has_role(current_user, rule_owner, 'USAGE'));

COMMENT ON POLICY dedup_rules_changed_by_owner ON mlops.dedup_rules IS
'A rule is updated only by a role with the rights of its rule_owner (the rule trigger then re-owns it if its '
'expressions change).';
COMMENT ON POLICY dedup_rules_deleted_by_owner ON mlops.dedup_rules IS
'A rule is deleted only by a role with the rights of its rule_owner.';
