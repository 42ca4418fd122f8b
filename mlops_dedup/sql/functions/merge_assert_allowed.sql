-- mlops.merge_assert_allowed: refuses to merge through a table where the merge could not see or keep every row:
-- row-level security that applies to the caller, or FK enforcement switched off by session_replication_role; and a
-- table with rules (CREATE RULE ... ON UPDATE / DELETE / INSERT), which PostgreSQL does not apply to the merge's
-- statements (data-modifying CTEs with RETURNING): refused before anything changes, not a raw 0A000 halfway.

CREATE OR REPLACE FUNCTION mlops.merge_assert_allowed(p_table regclass)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rules text[];
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
    SELECT array_agg(format('%I (ON %s)', r.rulename,
        CASE r.ev_type WHEN '2' THEN 'UPDATE' WHEN '3' THEN 'INSERT' ELSE 'DELETE' END) ORDER BY r.rulename)
    INTO v_rules
    FROM pg_catalog.pg_rewrite AS r
    WHERE r.ev_class = p_table AND r.ev_type IN ('2', '3', '4') AND r.ev_enabled <> 'D';
    IF v_rules IS NOT NULL THEN
        RAISE EXCEPTION 'cannot merge through %: it has rule(s) %', p_table, array_to_string(v_rules, ', ')
            USING ERRCODE = 'feature_not_supported',
            DETAIL = 'A merge changes rows with data-modifying statements in WITH ... RETURNING, to which PostgreSQL '
                'does not apply DO ALSO or DO INSTEAD rules. Nothing was changed.',
            HINT = format('Replace the rule by a trigger (it runs in merges as for the application), or '
                'ALTER TABLE %s DISABLE RULE ... for the merge.', p_table);
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.merge_assert_allowed(regclass) IS
'Raises when a merge through this table could not be complete: row-level security active for the caller '
'(insufficient_privilege), session_replication_role = replica (object_not_in_prerequisite_state), or an enabled '
'rule on UPDATE, INSERT or DELETE of the table (feature_not_supported, 0A000).';

REVOKE EXECUTE ON FUNCTION mlops.merge_assert_allowed(regclass) FROM PUBLIC;
