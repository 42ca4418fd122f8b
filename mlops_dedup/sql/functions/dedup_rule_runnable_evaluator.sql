-- mlops.dedup_rule_runnable_evaluator: the gate before a rule's expressions run: its evaluator still is the one the
-- rule trigger compiled (SECURITY DEFINER, owned by the rule's owner, passing every check), that owner may still read
-- the table and sees all of it, and the caller is not under row-level security. Returns the name to call.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_runnable_evaluator(p_target regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule record;
    v_owner record;
    v_problem record;
    v_hint text;
    v_missing text[];
BEGIN
    SELECT r.target, r.rule_owner, r.evaluator INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF v_rule.target IS NULL THEN
        RAISE EXCEPTION 'no dedup rule for %', p_target
            USING ERRCODE = 'undefined_object',
            HINT = 'INSERT INTO mlops.dedup_rules (target, exact_key, similar_text) VALUES (...).';
    END IF;
    v_hint := format(
        'Write the rule again, as a role that may read the table, so it is compiled afresh: UPDATE mlops.dedup_rules '
        'SET exact_key = exact_key WHERE target = %L::regclass;', p_target
    );
    PERFORM mlops.merge_assert_allowed(p_target);
    IF v_rule.evaluator IS NULL OR v_rule.rule_owner IS NULL THEN
        RAISE EXCEPTION 'dedup rule for % has no compiled evaluator', p_target
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'Rules are compiled when written; this one was written before rules had evaluators, or its '
                'compilation was undone.',
            HINT = v_hint;
    END IF;
    SELECT a.rolname, a.rolsuper, a.rolbypassrls INTO v_owner
    FROM pg_catalog.pg_roles AS a WHERE a.oid = v_rule.rule_owner;
    IF v_owner.rolname IS NULL THEN
        RAISE EXCEPTION 'dedup rule for %: its owner (role oid %) no longer exists', p_target, v_rule.rule_owner::oid
            USING ERRCODE = 'object_not_in_prerequisite_state', HINT = v_hint;
    END IF;

    SELECT x.* INTO v_problem
    FROM mlops.dedup_rule_evaluator_problems(v_rule.evaluator, p_target, v_rule.rule_owner) AS x
    LIMIT 1;
    IF v_problem.problem IS NOT NULL THEN
        RAISE EXCEPTION 'dedup rule for % cannot run: %', p_target, v_problem.problem
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('Its expressions run as its owner %s, through the function the rule trigger compiled, '
                'and only while that function passes the checks made when the rule was written.', v_rule.rule_owner),
            HINT = v_hint;
    END IF;
    IF NOT has_table_privilege(v_rule.rule_owner, p_target, 'SELECT') THEN
        RAISE EXCEPTION 'dedup rule for % cannot run: its owner % may no longer SELECT from %', p_target,
            v_rule.rule_owner, p_target
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A rule''s expressions run with the rights of the role that wrote them.',
            HINT = v_hint;
    END IF;
    v_missing := mlops.dedup_rule_missing_rights(v_rule.rule_owner, p_target);
    IF cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'dedup rule for % cannot run: its owner % lacks rights a merge of it uses: %', p_target,
            v_rule.rule_owner, array_to_string(v_missing, ', ')
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A rule would otherwise lend its writer the rights of whoever runs it.',
            HINT = 'GRANT them to the rule''s owner, or have a role that holds them re-write the rule.';
    END IF;
    -- Row-level security that would hide rows from the owner: its expressions would still see them.
    IF EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE c.oid = p_target AND c.relrowsecurity AND NOT (v_owner.rolsuper OR v_owner.rolbypassrls)
            AND (c.relforcerowsecurity OR NOT pg_has_role(v_rule.rule_owner, c.relowner, 'USAGE'))
    ) THEN
        RAISE EXCEPTION 'dedup rule for % cannot run: row-level security on % applies to its owner %', p_target,
            p_target, v_rule.rule_owner
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'Its expressions would see every row, including those the policies hide from its owner.',
            HINT = 'Write the rule as the table''s owner (without FORCE ROW LEVEL SECURITY) or a role with '
                'BYPASSRLS.';
    END IF;
    RETURN (
        SELECT format('%I.%I', n.nspname, p.proname)
        FROM pg_catalog.pg_proc AS p INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE p.oid = v_rule.evaluator
    );
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_runnable_evaluator(regclass) IS
'Internal, before detection, review or the quality report run a rule''s expressions: returns the qualified name of '
'the rule''s evaluator, to call as <name>(t) in FROM. Errors: no rule 42704; row-level security active for the '
'caller 42501, session_replication_role = replica 55000 (mlops.merge_assert_allowed); 55000 when the rule has no '
'evaluator, its owner is gone, its evaluator was changed or no longer passes mlops.dedup_rule_evaluator_problems, '
'its owner may no longer SELECT the table or is under row-level security there. The hint says how to re-write it.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_runnable_evaluator(regclass) FROM PUBLIC;
