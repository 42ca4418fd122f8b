-- mlops.dedup_rule_missing_rights: what a role lacks of the rights a merge of the table uses. A rule makes whoever
-- runs detection merge the table's rows (update, delete) and re-point the rows that reference them, so whoever
-- writes a rule must hold those rights itself: otherwise the rule would lend it the runner's.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_missing_rights(p_role regrole, p_target regclass)
RETURNS text[]
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN ARRAY(
        SELECT format('%s ON %s', w.privilege, w.tbl)
        FROM (
            SELECT p_target AS tbl, x.privilege, 1 AS ord
            FROM unnest(ARRAY['SELECT', 'UPDATE', 'DELETE']) AS x (privilege)
            UNION
            SELECT f.referencing_table, x.privilege, 2
            FROM mlops.referencing_fks(p_target) AS f
            CROSS JOIN unnest(ARRAY['SELECT', 'UPDATE']) AS x (privilege)
        ) AS w
        WHERE NOT pg_catalog.has_table_privilege(p_role, w.tbl, w.privilege)
        ORDER BY w.ord, w.tbl::text, w.privilege
    );
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_missing_rights(regrole, regclass) IS
'Internal: the rights a merge of p_target uses that p_role lacks, as text[] of ''PRIVILEGE ON table'' (SELECT, '
'UPDATE, DELETE on the table; SELECT, UPDATE on each table referencing it); empty when it holds them all.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_missing_rights(regrole, regclass) FROM PUBLIC;
