-- mlops.merge_log_trusted: whether the current role may act on a merge-log row written by p_writer. Granted roles
-- write the log themselves; what they record (a forged loser -> survivor mapping) must not steer what a role with
-- more rights does (resolve_id, re-pointing references to merged rows). A writer role dropped since is trusted: its
-- rows were written while it could be granted usage, and the log outlives roles.

CREATE OR REPLACE FUNCTION mlops.merge_log_trusted(p_writer name)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN NOT EXISTS (
        SELECT FROM pg_catalog.pg_roles AS r
        WHERE r.rolname = p_writer AND NOT pg_catalog.pg_has_role(r.oid, current_user, 'USAGE')
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_log_trusted(name) IS
'Internal: false when p_writer is an existing role without the current role''s rights, so a merge it recorded is '
'not followed (resolve_id) nor acted on (re-pointing references to merged rows) by the current role.';

REVOKE EXECUTE ON FUNCTION mlops.merge_log_trusted(name) FROM PUBLIC;
