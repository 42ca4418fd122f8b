-- mlops.dedup_rule_assert_session_unchanged: raises when a rule's evaluator, which runs as the rule's owner, left
-- something in the caller's session (fingerprints of mlops.dedup_rule_session_state differ); the error undoes it.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_assert_session_unchanged(p_target regclass, p_before text, p_after text)
RETURNS void
LANGUAGE plpgsql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_before IS DISTINCT FROM p_after THEN
        RAISE EXCEPTION 'dedup rule for %: its evaluator changed the session''s state', p_target
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A setting, a temporary object of another role, an advisory lock, a prepared statement, a '
                'cursor or a LISTEN changed while the rule''s expressions ran as its owner; the error undoes it.',
            HINT = 'Functions called by rule expressions must not change the session.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_assert_session_unchanged(regclass, text, text) IS
'Internal: raises insufficient_privilege (42501) naming the rule''s table when the session fingerprints taken with '
'mlops.dedup_rule_session_state() before and after its evaluator ran differ; returns quietly otherwise.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_assert_session_unchanged(regclass, text, text) FROM PUBLIC;
