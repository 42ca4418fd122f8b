-- mlops.data_quality_report: per rule's table, what is left to clean: live and soft-deleted rows, exact-key
-- duplicate groups still there, references still pointing at merged rows, and risky or slow FKs into it.

CREATE OR REPLACE FUNCTION mlops.data_quality_report()
RETURNS TABLE (
    target regclass,
    live_rows bigint,
    soft_deleted_rows bigint,
    exact_key_duplicate_groups bigint,
    references_to_merged_rows bigint,
    fks_without_index bigint,
    fks_blocking_deletes bigint
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_rule record;
    v_soft boolean;
    v_fk record;
    v_count bigint;
    v_evaluator text;
    v_state text;
BEGIN
    FOR v_rule IN
        SELECT r.* FROM mlops.dedup_rules AS r
        WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)  -- not a dropped table's rule
        ORDER BY r.target::text
    LOOP
        target := v_rule.target;
        v_soft := mlops.has_soft_delete_columns(v_rule.target);
        EXECUTE format(
            'SELECT count(*) FILTER (WHERE %2$s), count(*) FILTER (WHERE NOT (%2$s)) FROM %1$s AS t',
            v_rule.target, CASE WHEN v_soft THEN 't.merged_into IS NULL' ELSE 'true' END
        ) INTO live_rows, soft_deleted_rows;
        exact_key_duplicate_groups := NULL;
        IF nullif(btrim(v_rule.exact_key), '') IS NOT NULL THEN
            -- the rule's exact key, from its evaluator (run as the rule's owner), never from the rule's text
            BEGIN
                v_evaluator := mlops.dedup_rule_runnable_evaluator(v_rule.target);
            EXCEPTION WHEN object_not_in_prerequisite_state OR insufficient_privilege THEN
                v_evaluator := NULL;
                RAISE WARNING 'data quality of %: exact-key duplicate groups not counted: %', v_rule.target, SQLERRM;
            END;
            IF v_evaluator IS NOT NULL THEN
                v_state := mlops.dedup_rule_session_state();
                EXECUTE format(
                    'SELECT count(*) FROM (SELECT FROM %1$s AS t CROSS JOIN LATERAL %2$s(t.*) AS v'
                    ' WHERE %3$s AND nullif(v.ekey, '''') IS NOT NULL GROUP BY v.ekey HAVING count(*) > 1) AS g',
                    v_rule.target, v_evaluator, CASE WHEN v_soft THEN 't.merged_into IS NULL' ELSE 'true' END
                ) INTO exact_key_duplicate_groups;
                PERFORM mlops.dedup_rule_session_state(
                    v_rule.target, v_state, mlops.dedup_rule_session_state()
                );
            END IF;
        END IF;
        references_to_merged_rows := 0;
        IF v_soft THEN
            FOR v_fk IN SELECT f.* FROM mlops.referencing_fks(v_rule.target) AS f LOOP
                EXECUTE format(
                    'SELECT count(*) FROM %s AS r INNER JOIN %s AS t ON %s WHERE t.merged_into IS NOT NULL',
                    v_fk.referencing_table, v_rule.target,
                    mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 't.%2$I')
                ) INTO v_count;
                references_to_merged_rows := references_to_merged_rows + v_count;
            END LOOP;
        END IF;
        SELECT count(*) FILTER (WHERE NOT p.indexed), count(*) FILTER (WHERE p.risk = 'blocks_delete')
        INTO fks_without_index, fks_blocking_deletes
        FROM mlops.fk_policy_report() AS p
        WHERE p.referenced_table = v_rule.target;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.data_quality_report() IS
'Per dedup rule''s table: live rows, soft-deleted rows, exact-key duplicate groups remaining, references to merged '
'(soft-deleted) rows, FKs into it without an index and FKs into it that block deletes. Read by view '
'mlops.data_quality.';

REVOKE EXECUTE ON FUNCTION mlops.data_quality_report() FROM PUBLIC;
