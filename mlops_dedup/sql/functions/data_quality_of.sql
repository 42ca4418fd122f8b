-- mlops.data_quality_of: per rule's table among those given, what is left to clean: live and soft-deleted rows,
-- exact-key duplicate groups still there, references still pointing at merged rows, risky or slow FKs into it, and
-- references into it that no FK covers (partitions missing their siblings' FK, undeclared reference columns).

CREATE OR REPLACE FUNCTION mlops.data_quality_of(p_targets regclass[])
RETURNS TABLE (
    target regclass,
    live_rows bigint,
    soft_deleted_rows bigint,
    exact_key_duplicate_groups bigint,
    references_to_merged_rows bigint,
    fks_without_index bigint,
    fks_blocking_deletes bigint,
    missing_fk_partitions bigint,
    undeclared_references bigint
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
    v_audit jsonb;
    v_error text;
    v_error_state text;
BEGIN
    FOR v_rule IN
        SELECT r.* FROM mlops.dedup_rules AS r
        WHERE r.target = ANY (p_targets)
            AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)  -- not a dropped table's rule
            -- a table the caller may not read is not counted (a merger role sees its own tables, not the others')
            AND has_table_privilege(r.target, 'SELECT')
        ORDER BY r.target::text
    LOOP
        -- one table that cannot be measured (locked past the lock timeout, a permission missing on a referencing
        -- table) is named and left out; the others are measured
        BEGIN
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
                    RAISE WARNING 'data quality of %: exact-key duplicate groups not counted: %', v_rule.target,
                        SQLERRM;
                END;
                IF v_evaluator IS NOT NULL THEN
                    -- a rule whose expression raises on some row leaves this count out, not the table or the report
                    BEGIN
                        v_state := mlops.dedup_rule_session_state();
                        EXECUTE format(
                            'SELECT count(*) FROM (SELECT FROM %1$s AS t CROSS JOIN LATERAL %2$s(t.*) AS v'
                            ' WHERE %3$s AND nullif(v.ekey, '''') IS NOT NULL'
                            ' GROUP BY v.ekey HAVING count(*) > 1) AS g',
                            v_rule.target, v_evaluator, CASE WHEN v_soft THEN 't.merged_into IS NULL' ELSE 'true' END
                        ) INTO exact_key_duplicate_groups;
                        PERFORM mlops.dedup_rule_session_state(
                            v_rule.target, v_state, mlops.dedup_rule_session_state()
                        );
                    EXCEPTION
                        WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS v_error_state = RETURNED_SQLSTATE, v_error = MESSAGE_TEXT;
                            exact_key_duplicate_groups := NULL;
                            RAISE WARNING 'data quality of %: exact-key duplicate groups not counted: % (SQLSTATE %)',
                                v_rule.target, v_error, v_error_state;
                    END;
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
            -- the FK audit once for all rules: its guesses read samples of every candidate column
            IF v_audit IS NULL THEN
                SELECT coalesce(jsonb_object_agg(a.tbl, a.counts), '{}'::jsonb) INTO v_audit
                FROM (
                    SELECT p.referenced_table::oid::text AS tbl, jsonb_build_object(
                        'without_index', count(*) FILTER (
                            WHERE NOT p.indexed AND p.risk IN ('blocks_delete', 'cascades', 'sets_null', 'sets_default')
                        ),
                        'blocking', count(*) FILTER (WHERE p.risk = 'blocks_delete'),
                        'partitions', count(*) FILTER (WHERE p.risk = 'missing_on_partition'),
                        'undeclared', count(*) FILTER (
                            WHERE p.risk IN ('undeclared_reference', 'undeclared_polymorphic')
                        )
                    ) AS counts
                    FROM mlops.fk_policy_report() AS p
                    GROUP BY p.referenced_table
                ) AS a;
            END IF;
            fks_without_index := coalesce((v_audit -> v_rule.target::oid::text ->> 'without_index')::bigint, 0);
            fks_blocking_deletes := coalesce((v_audit -> v_rule.target::oid::text ->> 'blocking')::bigint, 0);
            missing_fk_partitions := coalesce((v_audit -> v_rule.target::oid::text ->> 'partitions')::bigint, 0);
            undeclared_references := coalesce((v_audit -> v_rule.target::oid::text ->> 'undeclared')::bigint, 0);
        EXCEPTION
            WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS v_error_state = RETURNED_SQLSTATE, v_error = MESSAGE_TEXT;
                RAISE WARNING 'data quality of % not measured: % (SQLSTATE %)', v_rule.target, v_error,
                    v_error_state;
                CONTINUE;
        END;
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.data_quality_of(regclass[]) IS
'Internal: the rows of mlops.data_quality_report for the rules'' tables in p_targets only (those the caller may '
'read); mlops.record_metrics measures the tables of its runs with it.';

REVOKE EXECUTE ON FUNCTION mlops.data_quality_of(regclass[]) FROM PUBLIC;
