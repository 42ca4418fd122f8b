-- mlops.assert_not_in_transaction_block: called first by the procedures that COMMIT, so a CALL inside a transaction
-- block that has written already fails with a clear error before anything is done. It uses only a sign that never
-- occurs for a CALL sent in autocommit (its transaction has no id before the procedure writes), so such a CALL is
-- never refused. A block that has not written yet is caught by PostgreSQL itself: the procedures COMMIT right after
-- their checks, before any work, and that COMMIT fails there with "invalid transaction termination" (2D000).

CREATE OR REPLACE FUNCTION mlops.assert_not_in_transaction_block(p_routine text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- No timing heuristics: with the extended protocol an autocommit CALL starts its transaction at Parse and its
    -- statement at Execute, which a slow client or a loaded server can set any time apart.
    IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION '% commits as it goes and cannot run inside a transaction block', p_routine
            USING ERRCODE = 'invalid_transaction_state',
            DETAIL = 'This transaction has written already, so the CALL was not sent in autocommit mode.',
            HINT = p_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.assert_not_in_transaction_block(text, text) IS
'Raises invalid_transaction_state (25000) naming the routine, with the given HINT, when the current transaction has '
'written already (a CALL inside BEGIN ... COMMIT after a write, or from a routine that wrote). Never raises for a '
'CALL sent in autocommit. A block that has not written is refused by the caller''s first COMMIT (2D000), which the '
'committing procedures make before any work. Internal helper.';

REVOKE EXECUTE ON FUNCTION mlops.assert_not_in_transaction_block(text, text) FROM PUBLIC;
