-- mlops.conflict_policies_validate: trigger on mlops.conflict_policies, run as the role writing the policy: checks
-- it against the table (mlops.conflict_policy_check) and that the writer has the rights of the table's owner, since
-- a policy decides what every later merge does to that table's rows. The writer cannot choose declared_by.

CREATE OR REPLACE FUNCTION mlops.conflict_policies_validate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_owner regrole;
BEGIN
    PERFORM mlops.conflict_policy_check(NEW.referencing_table, NEW.action, NEW.combine);
    SELECT c.relowner::regrole INTO v_owner FROM pg_catalog.pg_class AS c WHERE c.oid = NEW.referencing_table;
    IF NOT pg_has_role(current_user, v_owner, 'USAGE') THEN
        RAISE EXCEPTION 'role % may not declare the conflict policy of %: it lacks the rights of its owner %',
            current_user, NEW.referencing_table, v_owner
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A conflict policy decides what every merge does to the table''s colliding rows.',
            HINT = format('Declare it as %s (or a member of it).', v_owner);
    END IF;
    NEW.declared_by := current_user;
    NEW.declared_at := now();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.conflict_policies_validate() IS
'Internal: BEFORE INSERT OR UPDATE trigger of mlops.conflict_policies: checks the policy with '
'mlops.conflict_policy_check, refuses (42501) a writer without the rights of the table''s owner, and stamps '
'declared_by and declared_at.';

REVOKE EXECUTE ON FUNCTION mlops.conflict_policies_validate() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.conflict_policies') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER conflict_policies_validate_trg
        BEFORE INSERT OR UPDATE ON mlops.conflict_policies
        FOR EACH ROW EXECUTE FUNCTION mlops.conflict_policies_validate();
    END IF;
END;
$$;
