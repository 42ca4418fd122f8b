-- mlops.dedup_rules_forget_state: a rule deleted, or switched from or to incremental, leaves the table's stored
-- signatures out of date (its capture triggers record nothing meanwhile): they go, so the rule's next run is a full
-- pass. SECURITY DEFINER: whoever may delete or change the rule may forget its derived state (the row-level
-- security of the state tables lets only roles that may update the table write them); it runs no one's SQL.

CREATE OR REPLACE FUNCTION mlops.dedup_rules_forget_state()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF tg_op = 'DELETE' OR old.incremental IS DISTINCT FROM new.incremental OR old.target IS DISTINCT FROM new.target
    THEN
        DELETE FROM mlops.dedup_state AS s WHERE s.target = old.target;
        DELETE FROM mlops.dedup_changes AS c WHERE c.target = old.target;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rules_forget_state() IS
'Internal: AFTER UPDATE OR DELETE row trigger of mlops.dedup_rules: when a rule is deleted or its incremental flag '
'(or target) changes, deletes the table''s mlops.dedup_state row and queued changes, so the next run is a full pass.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rules_forget_state() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the tables exist once their migrations have run.
DO $$
BEGIN
    IF to_regclass('mlops.dedup_state') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER dedup_rules_forget_state_trg
        AFTER UPDATE OR DELETE ON mlops.dedup_rules
        FOR EACH ROW EXECUTE FUNCTION mlops.dedup_rules_forget_state();
    END IF;
END;
$$;
