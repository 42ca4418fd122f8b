-- mlops.dedup_rule_guard_evaluators: event trigger function. A rule's evaluator is owned by the rule's writer, who
-- could otherwise replace or alter it (SECURITY INVOKER, another body) between the check detection makes and the
-- call that follows it. So no evaluator a rule uses is ever changed in place: re-writing the rule compiles a new one.
-- SECURITY DEFINER (owned by the installer) only so that any role's DDL can be checked against mlops.dedup_rules; it
-- runs no code of anyone's and changes nothing.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_guard_evaluators()
RETURNS event_trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_target regclass;
    v_identity text;
BEGIN
    SELECT r.target, c.object_identity INTO v_target, v_identity
    FROM pg_catalog.pg_event_trigger_ddl_commands() AS c
    INNER JOIN mlops.dedup_rules AS r ON r.evaluator = c.objid
    WHERE c.classid = 'pg_catalog.pg_proc'::regclass
    LIMIT 1;
    IF v_target IS NOT NULL THEN
        RAISE EXCEPTION 'function % is the evaluator of the dedup rule for %; it is never changed in place',
            v_identity, v_target
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Detection checks an evaluator, then calls it: a change in between would run unchecked code.',
            HINT = format('Re-write the rule to compile a new evaluator: UPDATE mlops.dedup_rules SET exact_key = '
                'exact_key WHERE target = %L::regclass;', v_target::text);
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_guard_evaluators() IS
'Internal: function of event trigger mlops_dedup_guard_evaluators (ddl_command_end of CREATE/ALTER FUNCTION and '
'ALTER ROUTINE): raises 42501 when the command changed a function some dedup rule uses as its evaluator. SECURITY '
'DEFINER to read mlops.dedup_rules whoever issues the DDL; it only reads.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_guard_evaluators() FROM PUBLIC;

-- Event triggers need a superuser to create them; an install by another role goes without (README says so).
DO $$
BEGIN
    IF (SELECT r.rolsuper FROM pg_catalog.pg_roles AS r WHERE r.rolname = current_user)
        AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_event_trigger AS e WHERE e.evtname = 'mlops_dedup_guard_evaluators'
        ) THEN
        CREATE EVENT TRIGGER mlops_dedup_guard_evaluators ON ddl_command_end
        WHEN TAG IN ('CREATE FUNCTION', 'ALTER FUNCTION', 'ALTER ROUTINE')
        EXECUTE FUNCTION mlops.dedup_rule_guard_evaluators();
    END IF;
END;
$$;
