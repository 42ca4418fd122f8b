-- mlops.merge_failures_clear: a person says a recorded cluster failure is dealt with (the trigger fixed, a policy
-- declared, the referencing row corrected): the next run tries the cluster again. Only failures of tables the caller
-- may merge (row-level security on mlops.merge_failures).

CREATE OR REPLACE FUNCTION mlops.merge_failures_clear(
    p_target regclass,
    p_failure_ids bigint[] DEFAULT NULL,
    p_note text DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_cleared bigint;
BEGIN
    IF p_target IS NULL THEN
        RAISE EXCEPTION 'p_target must name the table whose failures to clear, not NULL'
            USING ERRCODE = 'null_value_not_allowed',
            HINT = 'SELECT mlops.merge_failures_clear(''app.customers'') clears all open failures of one table.';
    END IF;
    UPDATE mlops.merge_failures AS f
    SET cleared_at = now(), cleared_by = current_user,
        cleared_reason = 'cleared by hand' || coalesce(': ' || p_note, '')
    WHERE f.target = p_target AND f.cleared_at IS NULL
        AND (p_failure_ids IS NULL OR f.failure_id = ANY (p_failure_ids));
    GET DIAGNOSTICS v_cleared = ROW_COUNT;
    RETURN v_cleared;
END;
$$;

COMMENT ON FUNCTION mlops.merge_failures_clear(regclass, bigint[], text) IS
'Clears open failures of p_target in mlops.merge_failures (all, or those in p_failure_ids), so the next '
'mlops.merge_duplicates run tries those clusters again; cleared_reason ''cleared by hand'' with p_note. Returns the '
'number cleared (failures of tables the caller may not UPDATE are not visible to it: 0). NULL p_target: 22004.';

REVOKE EXECUTE ON FUNCTION mlops.merge_failures_clear(regclass, bigint[], text) FROM PUBLIC;
