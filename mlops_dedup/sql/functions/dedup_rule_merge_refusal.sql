-- mlops.dedup_rule_merge_refusal: why the current role may not merge by a table's rule, or NULL. A rule chooses the
-- table that whoever runs it updates and deletes from, and updating a table runs code attached to it and to the
-- tables referencing it (triggers, index expressions, generated columns, casts of column types) with the updater's
-- rights. So a rule's merges run only when the rule's writer, the owners of every table the merge may write and of
-- the code attached to them already have the merging role's rights: otherwise writing a rule, or owning a table a
-- merge reaches, would lend them those rights.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_merge_refusal(p_target regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule record;
    v_untrusted text;
BEGIN
    SELECT r.target, r.rule_owner INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    IF v_rule.target IS NULL THEN
        RETURN format('refusing to merge rows of %s by review or rule: the table has no dedup rule', p_target);
    END IF;
    IF v_rule.rule_owner IS NOT NULL AND NOT pg_catalog.pg_has_role(v_rule.rule_owner, current_user, 'USAGE') THEN
        RETURN format(
            'refusing to merge by the rule for %s as %I: its writer %s does not have the rights of %I, and merging '
            'runs code attached to the tables (triggers, index expressions, casts) with the merging role''s rights. '
            'Merge as %s (SET ROLE %s) or as a role %s belongs to',
            p_target, current_user, v_rule.rule_owner, current_user, v_rule.rule_owner, v_rule.rule_owner,
            v_rule.rule_owner
        );
    END IF;

    -- Every table the merge may write: the target, the tables referencing it, theirs in turn (colliding rows are
    -- merged recursively), and their partitions; and what runs when they are written.
    WITH RECURSIVE fks AS MATERIALIZED (
        SELECT f.referencing_table, f.referenced_table FROM mlops.foreign_key_catalog() AS f
        UNION ALL
        -- declared references: a merge of the target writes their tables too
        SELECT d.referencing_table, d.target FROM mlops.declared_references AS d
    ),
    reach (tbl) AS (
        SELECT p_target::oid
        UNION
        SELECT x.tbl
        FROM reach AS r
        CROSS JOIN LATERAL (
            SELECT f.referencing_table::oid AS tbl FROM fks AS f WHERE f.referenced_table = r.tbl
            UNION ALL
            SELECT i.inhrelid FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = r.tbl
        ) AS x
    ),
    code (what, owner) AS (
        SELECT format('table %s (owner %s)', c.oid::regclass, c.relowner::regrole), c.relowner
        FROM reach AS r INNER JOIN pg_catalog.pg_class AS c ON c.oid = r.tbl
        UNION ALL
        SELECT format('trigger %I on %s (function %s, owner %s)', t.tgname, t.tgrelid::regclass,
            p.oid::regprocedure, p.proowner::regrole), p.proowner
        FROM reach AS r
        INNER JOIN pg_catalog.pg_trigger AS t ON t.tgrelid = r.tbl AND NOT t.tgisinternal AND t.tgenabled <> 'D'
        INNER JOIN pg_catalog.pg_proc AS p ON p.oid = t.tgfoid
        UNION ALL
        SELECT format('type %s of column %s.%I (owner %s)', ty.oid::regtype, a.attrelid::regclass, a.attname,
            ty.typowner::regrole), ty.typowner
        FROM reach AS r
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = r.tbl AND a.attnum > 0 AND NOT a.attisdropped
        INNER JOIN pg_catalog.pg_type AS ty ON ty.oid = a.atttypid
        WHERE ty.typnamespace <> 'pg_catalog'::regnamespace
    )
    SELECT string_agg(DISTINCT x.what, '; ') INTO v_untrusted
    FROM code AS x
    WHERE NOT pg_catalog.pg_has_role(x.owner, current_user, 'USAGE');
    IF v_untrusted IS NOT NULL THEN
        RETURN format(
            'refusing to merge by the rule for %s as %I: the merge would run code of roles without the rights of '
            '%I: %s. Merge as a role those owners have the rights of (e.g. SET ROLE to the table''s owner)',
            p_target, current_user, current_user, v_untrusted
        );
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_merge_refusal(regclass) IS
'Internal: NULL when the current role may merge by the table''s rule, else the reason as text: the table has no '
'rule; the rule''s owner lacks the current role''s rights; or a table the merge may write (the target, tables '
'referencing it recursively, their partitions), one of their triggers'' functions or a column type is owned by a '
'role without the current role''s rights. merge_duplicates records it as a failed run; review_candidate raises it '
'(42501).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_merge_refusal(regclass) FROM PUBLIC;
