-- mlops.pin_search_path: the first step of every entry point that changes user tables (merge_rows, merge_clusters,
-- unmerge, review_candidate, merge_duplicates). Those entry points carry no SET clause, because a SET clause hides
-- the caller's search_path from the routine: this function reads it, pins search_path to pg_catalog, pg_temp for
-- the package's own SQL, and records the caller's path (transaction-local setting mlops.caller_search_path) for
-- the user's code — triggers, rules and the functions they call — which runs under it while the merge's statements
-- change user tables (mlops.use_caller_search_path). The entry point puts the caller's path back when it returns;
-- on an error, the rollback of the transaction or savepoint does.

CREATE OR REPLACE FUNCTION mlops.pin_search_path(p_caller_search_path text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
-- No SET clause: its settings must outlive the call. Until the path is pinned, every name is schema-qualified and
-- no operator is used, so nothing planted in the caller's path can run.
AS $$
DECLARE
    v_caller text := coalesce(p_caller_search_path, pg_catalog.current_setting('search_path'));
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    -- A nested call (a package routine calling an entry point) finds the path pinned: the recorded one stays. So
    -- does a session whose own path is exactly the pinned one, such as runner.py's connections, which record the
    -- database's default path in mlops.caller_search_path when they connect.
    IF v_caller <> 'pg_catalog, pg_temp' THEN
        PERFORM pg_catalog.set_config('mlops.caller_search_path', v_caller, true);
    END IF;
    RETURN v_caller;
END;
$$;

COMMENT ON FUNCTION mlops.pin_search_path(text) IS
'Internal: pins search_path to pg_catalog, pg_temp (transaction-local) and records the caller''s path (the argument, '
'or the current search_path) in the setting mlops.caller_search_path for user triggers and rules; returns the '
'caller''s path, which the entry point restores when it returns.';

REVOKE EXECUTE ON FUNCTION mlops.pin_search_path(text) FROM PUBLIC;
