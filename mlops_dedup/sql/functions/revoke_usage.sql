-- mlops.revoke_usage: takes back from a role every privilege on the package's own objects (what grant_usage gives,
-- rule writing included, and anything on the package's tables); the user's tables are left alone. Idempotent.

CREATE OR REPLACE FUNCTION mlops.revoke_usage(p_role regrole)
RETURNS TABLE (object_type text, object_name text, privilege text)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_object record;
    v_keep_schema_usage boolean;
    v_owned bigint;
BEGIN
    PERFORM mlops.assert_role(p_role);
    PERFORM mlops.assert_can_grant_usage(true);

    -- Schema mlops also holds user tables (the platform's): a role with privileges there keeps USAGE on it.
    SELECT EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = 'mlops'::regnamespace
            AND NOT (
                c.relname = ANY (mlops.package_table_names() || ARRAY['dedup_stats', 'data_quality', 'review_queue'])
            )
            AND (
                EXISTS (SELECT FROM aclexplode(c.relacl) AS a WHERE a.grantee = p_role)
                OR EXISTS (
                    SELECT FROM pg_catalog.pg_attribute AS t, aclexplode(t.attacl) AS a
                    WHERE t.attrelid = c.oid AND a.grantee = p_role
                )
            )
    ) INTO v_keep_schema_usage;

    -- What the role holds on them now, column privileges folded per table: the result.
    RETURN QUERY
    WITH objects AS (
        SELECT DISTINCT u.object_type AS kind, u.object_name AS name FROM mlops.usage_privileges(true) AS u
        UNION
        SELECT 'table', to_regclass('mlops.' || quote_ident(t.name))::text
        FROM unnest(mlops.package_table_names()) AS t (name)
        WHERE to_regclass('mlops.' || quote_ident(t.name)) IS NOT NULL
    ),
    held (kind, name, priv, col) AS (
        SELECT o.kind, o.name, a.privilege_type, NULL::text
        FROM objects AS o
        INNER JOIN pg_catalog.pg_namespace AS n ON o.kind = 'schema' AND n.nspname = o.name
        CROSS JOIN aclexplode(n.nspacl) AS a
        WHERE a.grantee = p_role AND NOT (n.nspname = 'mlops' AND (a.privilege_type <> 'USAGE' OR v_keep_schema_usage))
        UNION ALL
        SELECT o.kind, o.name, a.privilege_type, NULL
        FROM objects AS o
        INNER JOIN pg_catalog.pg_class AS c ON o.kind IN ('table', 'view') AND c.oid = to_regclass(o.name)
        CROSS JOIN aclexplode(c.relacl) AS a
        WHERE a.grantee = p_role
        UNION ALL
        SELECT o.kind, o.name, a.privilege_type, t.attname::text
        FROM objects AS o
        INNER JOIN pg_catalog.pg_attribute AS t ON o.kind IN ('table', 'view') AND t.attrelid = to_regclass(o.name)
        CROSS JOIN aclexplode(t.attacl) AS a
        WHERE a.grantee = p_role
        UNION ALL
        SELECT o.kind, o.name, a.privilege_type, NULL
        FROM objects AS o
        INNER JOIN pg_catalog.pg_proc AS p ON o.kind IN ('function', 'procedure') AND p.oid = to_regprocedure(o.name)
        CROSS JOIN aclexplode(p.proacl) AS a
        WHERE a.grantee = p_role
    )
    SELECT h.kind, h.name,
        h.priv || coalesce(' (' || string_agg(quote_ident(h.col), ', ' ORDER BY h.col) || ')', '')
    FROM held AS h
    GROUP BY h.kind, h.name, h.priv, h.col IS NULL
    ORDER BY 1, 2, 3;

    FOR v_object IN
        SELECT DISTINCT u.object_type AS kind, u.object_name AS name FROM mlops.usage_privileges(true) AS u
        UNION
        SELECT 'table', to_regclass('mlops.' || quote_ident(t.name))::text
        FROM unnest(mlops.package_table_names()) AS t (name)
        WHERE to_regclass('mlops.' || quote_ident(t.name)) IS NOT NULL
    LOOP
        CONTINUE WHEN v_object.kind = 'schema' AND v_object.name = 'mlops' AND v_keep_schema_usage;
        EXECUTE format(
            'REVOKE %s ON %s %s FROM %s',
            CASE WHEN v_object.kind = 'schema' AND v_object.name = 'mlops' THEN 'USAGE' ELSE 'ALL' END,
            CASE v_object.kind WHEN 'schema' THEN 'SCHEMA' WHEN 'table' THEN 'TABLE' WHEN 'view' THEN 'TABLE'
                ELSE 'ROUTINE' END,
            CASE WHEN v_object.kind = 'schema' THEN quote_ident(v_object.name) ELSE v_object.name END,
            p_role
        );
    END LOOP;

    IF v_keep_schema_usage THEN
        RAISE NOTICE 'role % keeps USAGE on schema mlops: it holds privileges on tables of yours there', p_role
            USING DETAIL = 'Without EXECUTE and the package tables'' privileges, USAGE gives it nothing of the '
                'package.';
    END IF;
    SELECT count(*) INTO v_owned
    FROM pg_catalog.pg_proc AS p
    WHERE p.pronamespace = 'mlops_rules'::regnamespace AND p.proowner = p_role;
    IF v_owned > 0 THEN
        RAISE NOTICE 'role % still owns % rule evaluator(s) in schema mlops_rules; its rules keep working', p_role,
            v_owned
            USING HINT = 'Rewrite the rules as another writer, or REASSIGN OWNED / DROP OWNED before dropping the '
                'role.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.revoke_usage(regrole) IS
'Revokes from a role every privilege on the package''s own objects: those of mlops.usage_privileges(true) and any on '
'the package''s tables (USAGE on schema mlops stays when the role holds privileges on other tables there, with a '
'NOTICE). Nothing on the user''s tables changes. Returns (object_type, object_name, privilege), what the role held '
'and lost; empty when it held nothing. Errors: NULL role 22004, a role OID that names no role 42704, a caller that '
'could not grant them (not the package owner or a superuser) 42501, before anything is revoked.';

REVOKE EXECUTE ON FUNCTION mlops.revoke_usage(regrole) FROM PUBLIC;
