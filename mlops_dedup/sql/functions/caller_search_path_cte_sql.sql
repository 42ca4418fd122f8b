-- mlops.caller_search_path_cte_sql: the CTE that makes a merge statement on a user table run the user's code
-- (triggers, and the functions they call) under the caller's search_path, recorded by mlops.pin_search_path.
-- The statement itself is parsed and planned under the package's pinned path, so nothing planted in the caller's
-- path binds in it; the CTE sets the caller's path when it is first read, and the statement reads its
-- data-modifying CTE only after it (mlops.caller_search_path_scan_sql), so every trigger of the change, BEFORE
-- STATEMENT included, sees the caller's path. The calling routine pins the path again right after the statement.

CREATE OR REPLACE FUNCTION mlops.caller_search_path_cte_sql()
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN format(
        'mlops_caller_path AS MATERIALIZED (SELECT pg_catalog.set_config(''search_path'', %L, true) AS path)',
        coalesce(nullif(current_setting('mlops.caller_search_path', true), ''), 'pg_catalog, pg_temp')
    );
END;
$$;

COMMENT ON FUNCTION mlops.caller_search_path_cte_sql() IS
'Internal: SQL text of the CTE mlops_caller_path, whose first read sets search_path (transaction-local) to the '
'caller''s path recorded by mlops.pin_search_path (pg_catalog, pg_temp when none is recorded); the merge''s '
'statements on user tables CROSS JOIN it, then the routine pins the path again.';

REVOKE EXECUTE ON FUNCTION mlops.caller_search_path_cte_sql() FROM PUBLIC;
