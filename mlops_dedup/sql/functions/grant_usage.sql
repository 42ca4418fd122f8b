-- mlops.grant_usage: gives a role what it needs on the package's own objects to merge, undo, review, detect and read
-- the reports (mlops.usage_privileges), and nothing on the user's tables: it reports, one NOTICE per table, what the
-- role still lacks there. Idempotent.

CREATE OR REPLACE FUNCTION mlops.grant_usage(p_role regrole, p_rule_writer boolean DEFAULT FALSE)
RETURNS TABLE (object_type text, object_name text, privilege text)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_grant record;
    v_table record;
BEGIN
    PERFORM mlops.assert_role(p_role);
    IF p_rule_writer IS NULL THEN
        RAISE EXCEPTION 'p_rule_writer must be true or false, not NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops.assert_can_grant_usage(p_rule_writer);

    FOR v_grant IN SELECT u.* FROM mlops.usage_privileges(p_rule_writer) AS u LOOP
        EXECUTE format(
            'GRANT %s ON %s %s TO %s',
            v_grant.privilege,
            CASE v_grant.object_type WHEN 'schema' THEN 'SCHEMA' WHEN 'table' THEN 'TABLE' WHEN 'view' THEN 'TABLE'
                ELSE 'ROUTINE' END,
            CASE WHEN v_grant.object_type = 'schema' THEN quote_ident(v_grant.object_name)
                ELSE v_grant.object_name END,
            p_role
        );
    END LOOP;

    -- The user's tables stay the user's decision: say, per table, what a merge (and its undo) would still lack.
    FOR v_table IN
        WITH rules AS (
            SELECT r.target FROM mlops.dedup_rules AS r
            WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
        ),
        needs (tbl, priv, why) AS (
            SELECT r.target, n.priv, 'rule target'
            FROM rules AS r CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE']) AS n (priv)
            UNION
            SELECT f.referencing_table, n.priv, format('references %s', r.target)
            FROM rules AS r
            CROSS JOIN LATERAL mlops.referencing_fks(r.target) AS f
            CROSS JOIN LATERAL unnest(
                -- rows that re-pointing makes collide on a unique key are merged or archived away (and undo puts
                -- them back)
                CASE WHEN EXISTS (
                    SELECT FROM pg_catalog.pg_index AS i
                    INNER JOIN pg_catalog.pg_attribute AS a
                        ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey::int2 [])
                    WHERE i.indrelid = f.referencing_table AND i.indisunique
                        AND a.attname = ANY (f.referencing_columns)
                ) THEN ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE'] ELSE ARRAY['SELECT', 'UPDATE'] END
            ) AS n (priv)
        )
        SELECT
            n.tbl,
            array_agg(DISTINCT n.priv ORDER BY n.priv) AS privs,
            string_agg(DISTINCT n.why, ', ') AS why
        FROM needs AS n
        WHERE NOT has_table_privilege(p_role, n.tbl, n.priv)
        GROUP BY n.tbl
        ORDER BY n.tbl::text
    LOOP
        RAISE NOTICE 'role % lacks % on % (%): merges through it fail with permission denied',
            p_role, array_to_string(v_table.privs, ', '), v_table.tbl, v_table.why
            USING DETAIL = 'A merge reads, locks (UPDATE) and deletes rows of the rule''s table, reads and re-points '
                'rows of the tables referencing it, and merges or archives away rows that would collide on a unique '
                'key there; undo inserts archived rows back. mlops.grant_usage grants nothing on your tables.',
            HINT = format('GRANT %s ON %s TO %s;', array_to_string(v_table.privs, ', '), v_table.tbl, p_role);
    END LOOP;
    -- Table privileges are of no use without USAGE on the table's schema.
    FOR v_table IN
        WITH rules AS MATERIALIZED (
            -- a rule whose table was dropped (DROP TABLE ... CASCADE leaves the rule's row) names nothing
            SELECT r.target FROM mlops.dedup_rules AS r
            WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
        )
        SELECT DISTINCT c.relnamespace::regnamespace AS nsp
        FROM rules AS r
        CROSS JOIN LATERAL (
            SELECT r.target AS tbl
            UNION
            SELECT f.referencing_table FROM mlops.referencing_fks(r.target) AS f
        ) AS t
        INNER JOIN pg_catalog.pg_class AS c ON c.oid = t.tbl
        WHERE NOT has_schema_privilege(p_role, c.relnamespace, 'USAGE')
        ORDER BY 1
    LOOP
        RAISE NOTICE 'role % lacks USAGE on schema %: merges through its tables fail with permission denied', p_role,
            v_table.nsp
            USING HINT = format('GRANT USAGE ON SCHEMA %s TO %s;', v_table.nsp, p_role);
    END LOOP;
    IF NOT has_database_privilege(p_role, current_database(), 'TEMPORARY') THEN
        RAISE NOTICE 'role % lacks TEMPORARY on database %: find_duplicates and merge_duplicates fail', p_role,
            current_database()
            USING DETAIL = 'Detection builds its candidate pairs and clusters in temporary tables.',
            HINT = format('GRANT TEMPORARY ON DATABASE %I TO %s;', current_database(), p_role);
    END IF;

    RETURN QUERY SELECT u.object_type, u.object_name, u.privilege FROM mlops.usage_privileges(p_rule_writer) AS u;
END;
$$;

COMMENT ON FUNCTION mlops.grant_usage(regrole, boolean) IS
'Grants a role what it needs on the package''s own objects to run merge_rows, merge_clusters, unmerge, resolve_id, '
'find_duplicates, merge_duplicates, review_candidate and read dedup_stats, data_quality, fk_policy_report, '
'referencing_fks; with p_rule_writer also writing mlops.dedup_rules (CREATE on schema mlops_rules). Grants nothing '
'on the user''s tables: one NOTICE per rule target or referencing table where the role lacks what a merge needs. '
'Returns (object_type, object_name, privilege), every privilege it holds now by this call; idempotent. Errors: '
'NULL role or p_rule_writer 22004, a role OID that names no role 42704, a caller without the grant option on them '
'(not the package owner or a superuser) 42501, before anything is granted.';

REVOKE EXECUTE ON FUNCTION mlops.grant_usage(regrole, boolean) FROM PUBLIC;
