-- mlops.assert_role: refuses NULL and role OIDs that name no role (a dropped role, 0 for PUBLIC), with an error
-- that says which.

CREATE OR REPLACE FUNCTION mlops.assert_role(p_role regrole)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL'
            USING ERRCODE = 'null_value_not_allowed',
            HINT = 'Pass a role name, e.g. ''dedup_operator''::regrole.';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.oid = p_role) THEN
        RAISE EXCEPTION 'role with OID % does not exist', p_role::oid
            USING ERRCODE = 'undefined_object',
            DETAIL = CASE WHEN p_role::oid = 0 THEN 'OID 0 stands for PUBLIC, which the package never grants to.'
                ELSE 'The role was dropped, or the OID was never a role''s.' END;
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.assert_role(regrole) IS
'Raises null_value_not_allowed (22004) for NULL and undefined_object (42704) for an OID that names no role (a '
'dropped role; 0, i.e. PUBLIC); returns quietly for an existing role.';

REVOKE EXECUTE ON FUNCTION mlops.assert_role(regrole) FROM PUBLIC;
