-- mlops.caller_search_path_scan_sql: the FROM item through which a merge statement reads the rows its
-- data-modifying CTE changed in a user table: first the CTE mlops_caller_path (mlops.caller_search_path_cte_sql),
-- which sets the caller's search_path, then — LATERAL, so in that order — the data-modifying CTE. The UPDATE,
-- DELETE or INSERT on the user table therefore starts only after the path is set, and every trigger it fires,
-- BEFORE STATEMENT included, runs under the caller's path.

CREATE OR REPLACE FUNCTION mlops.caller_search_path_scan_sql(p_cte text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN format(
        'mlops_caller_path CROSS JOIN LATERAL (SELECT %1$I.* FROM %1$I WHERE mlops_caller_path.path IS NOT NULL OFFSET 0)'
        ' AS %1$I',
        p_cte
    );
END;
$$;

COMMENT ON FUNCTION mlops.caller_search_path_scan_sql(text) IS
'Internal: SQL text of a FROM item that reads CTE mlops_caller_path first, then, LATERAL, the given data-modifying '
'CTE under its own name, so the change to the user table starts once the caller''s search_path is set.';

REVOKE EXECUTE ON FUNCTION mlops.caller_search_path_scan_sql(text) FROM PUBLIC;
