-- mlops.merge_assert_allowed: refuses to merge through a table where the merge could not see or keep every row:
-- row-level security that applies to the caller, or FK enforcement switched off by session_replication_role.

CREATE OR REPLACE FUNCTION mlops.merge_assert_allowed(p_table regclass)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF current_setting('session_replication_role') = 'replica' THEN
        RAISE EXCEPTION 'refusing to merge with session_replication_role = replica'
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'In replica mode foreign keys are not enforced, so a merge could leave dangling references.',
            HINT = 'SET session_replication_role = origin; then merge.';
    END IF;
    IF row_security_active(p_table) THEN
        RAISE EXCEPTION 'refusing to merge: row-level security on % applies to role %', p_table, current_user
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'The merge would see and re-point only the rows visible to this role and strand the others.',
            HINT = 'Run the merge as the table owner (without FORCE ROW LEVEL SECURITY) or a role with BYPASSRLS.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.merge_assert_allowed(regclass) IS
'Raises when a merge through this table could not be complete: row-level security active for the caller '
'(insufficient_privilege) or session_replication_role = replica (object_not_in_prerequisite_state).';

REVOKE EXECUTE ON FUNCTION mlops.merge_assert_allowed(regclass) FROM PUBLIC;
