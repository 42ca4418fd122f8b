-- mlops.dedup_rule_drop_evaluator: trigger on mlops.dedup_rules: when a rule is deleted, or its evaluator replaced,
-- drops the old evaluator, if the role writing may (it owns it) and no other rule uses it; else a NOTICE says so.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_drop_evaluator()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_old record;
BEGIN
    IF OLD.evaluator IS NULL OR (TG_OP = 'UPDATE' AND NEW.evaluator IS NOT DISTINCT FROM OLD.evaluator) THEN
        RETURN NULL;
    END IF;
    SELECT p.oid::regprocedure AS fn, p.proowner INTO v_old
    FROM pg_catalog.pg_proc AS p
    WHERE p.oid = OLD.evaluator AND p.pronamespace = 'mlops_rules'::regnamespace;
    IF v_old.fn IS NULL OR EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.evaluator = OLD.evaluator) THEN
        RETURN NULL;
    END IF;
    IF pg_has_role(v_old.proowner, 'USAGE') AND has_schema_privilege('mlops_rules', 'USAGE') THEN
        EXECUTE format('DROP FUNCTION %s', v_old.fn);
    ELSE
        RAISE NOTICE 'the old evaluator % of the dedup rule for % is left in place: it is owned by %', v_old.fn,
            OLD.target, v_old.proowner::regrole
            USING HINT = format('Its owner may drop it: DROP FUNCTION %s;', v_old.fn);
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_drop_evaluator() IS
'AFTER UPDATE OR DELETE trigger of mlops.dedup_rules: drops the evaluator a rule no longer uses (deleted rule, '
'expressions compiled afresh) when the current role has its owner''s rights and no rule uses it; otherwise a NOTICE '
'names it and its owner.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_drop_evaluator() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.dedup_rules') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER dedup_rule_drop_evaluator_trg
        AFTER UPDATE OR DELETE ON mlops.dedup_rules
        FOR EACH ROW EXECUTE FUNCTION mlops.dedup_rule_drop_evaluator();
    END IF;
END;
$$;
