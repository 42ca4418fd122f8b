-- mlops.dedup_rule_recompile: trigger on mlops.dedup_rules, BEFORE UPDATE OF the columns a rule is compiled from
-- (and rule_owner, evaluator): naming one in an UPDATE, even with its old value, re-writes the rule, so it is
-- compiled afresh as the role writing now. It clears NEW.evaluator; dedup_rules_validate, which fires next, compiles.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_recompile()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    NEW.evaluator := NULL;
    NEW.rule_owner := NULL;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_recompile() IS
'BEFORE UPDATE OF target, exact_key, similar_text, block_key, keep_order, comparisons, comparison_types, rule_owner, '
'evaluator trigger of '
'mlops.dedup_rules: clears evaluator and rule_owner, so the trigger dedup_rules_validate_trg (which fires after it, '
'by name) compiles the rule again as the current role, e.g. after UPDATE mlops.dedup_rules SET exact_key = exact_key.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_recompile() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run. Triggers of one
-- event fire in name order: dedup_rules_recompile_trg before dedup_rules_validate_trg.
DO $$
BEGIN
    IF to_regclass('mlops.dedup_rules') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER dedup_rules_recompile_trg
        BEFORE UPDATE OF target, exact_key, similar_text, block_key, keep_order, comparisons, comparison_types, rule_owner,
        evaluator
        ON mlops.dedup_rules
        FOR EACH ROW EXECUTE FUNCTION mlops.dedup_rule_recompile();
    END IF;
END;
$$;
