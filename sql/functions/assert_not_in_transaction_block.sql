-- mlops.assert_not_in_transaction_block: called first by the procedures that COMMIT, so a CALL inside BEGIN ... COMMIT
-- fails with a clear error before anything is done. PostgreSQL does not tell a procedure whether its CALL may commit;
-- the signs of a transaction block are: it has written already, or it began well before this statement (a second:
-- an autocommit CALL sent with parameters starts its transaction at Parse and its statement at Execute, which a slow
-- client or a loaded server can set milliseconds apart).

CREATE OR REPLACE FUNCTION mlops.assert_not_in_transaction_block(p_routine text, p_hint text)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Past these signs the caller's first COMMIT still fails (PostgreSQL: "invalid transaction termination", 2D000)
    -- before any work, which is why the procedures COMMIT once right after their checks.
    IF pg_catalog.pg_current_xact_id_if_assigned() IS NOT NULL
        OR pg_catalog.statement_timestamp() - pg_catalog.transaction_timestamp() > interval '1 second' THEN
        RAISE EXCEPTION '% commits as it goes and cannot run inside a transaction block', p_routine
            USING ERRCODE = 'invalid_transaction_state',
            HINT = p_hint;
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.assert_not_in_transaction_block(text, text) IS
'Raises invalid_transaction_state (25000) naming the routine, with the given HINT, when the current transaction '
'has written or began more than a second before the current statement (a CALL inside BEGIN ... COMMIT). Internal '
'helper.';

REVOKE EXECUTE ON FUNCTION mlops.assert_not_in_transaction_block(text, text) FROM PUBLIC;
