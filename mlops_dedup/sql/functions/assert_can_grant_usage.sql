-- mlops.assert_can_grant_usage: refuses, before anything is granted or revoked, a caller that could not grant every
-- privilege of mlops.usage_privileges (GRANT by such a role only warns and grants part of them).

CREATE OR REPLACE FUNCTION mlops.assert_can_grant_usage(p_rule_writer boolean)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_lacking text[];
    v_owner regrole;
BEGIN
    SELECT array_agg(format('%s %s (%s)', u.object_type, u.object_name, split_part(u.privilege, ' ', 1))) INTO v_lacking
    FROM mlops.usage_privileges(p_rule_writer) AS u
    WHERE NOT CASE u.object_type
        WHEN 'schema' THEN has_schema_privilege(u.object_name, u.privilege || ' WITH GRANT OPTION')
        WHEN 'table' THEN has_table_privilege(u.object_name, split_part(u.privilege, ' ', 1) || ' WITH GRANT OPTION')
        WHEN 'view' THEN has_table_privilege(u.object_name, split_part(u.privilege, ' ', 1) || ' WITH GRANT OPTION')
        ELSE has_function_privilege(u.object_name, 'EXECUTE WITH GRANT OPTION')
    END;
    IF v_lacking IS NOT NULL THEN
        SELECT n.nspowner::regrole INTO v_owner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'mlops';
        RAISE EXCEPTION 'role % cannot grant or revoke the privileges of the mlops-dedup package', current_user
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = format('It lacks the grant option on %s of them: %s%s.', cardinality(v_lacking),
                array_to_string(v_lacking[1:5], ', '), CASE WHEN cardinality(v_lacking) > 5 THEN ', …' ELSE '' END),
            HINT = format('Run it as the package owner (%s) or a superuser.', v_owner);
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.assert_can_grant_usage(boolean) IS
'Raises insufficient_privilege (42501), naming what is lacking and the package owner, unless the current role '
'holds the grant option (owner, superuser, or WITH GRANT OPTION) on every privilege of '
'mlops.usage_privileges(p_rule_writer).';

REVOKE EXECUTE ON FUNCTION mlops.assert_can_grant_usage(boolean) FROM PUBLIC;
