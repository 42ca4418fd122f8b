-- mlops.merge_combine_twins: the combine policy's step, before colliding rows are merged into their twins: each
-- twin takes, per column of the policy, the combined value of itself and the rows colliding with it (sum, min, max,
-- fill, concat); the old and new values are recorded on the merge (mlops.merges.combined) so undo can write them back.

CREATE OR REPLACE FUNCTION mlops.merge_combine_twins(
    p_referencing regclass,
    p_combine jsonb,
    p_tableoids oid[],
    p_ctids tid[],
    p_keeper_tableoids oid[],
    p_keeper_ctids tid[],
    p_merge_ids bigint[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_columns text[];
    v_aggregates text[];
    v_updated bigint;
    v_twins bigint;
    v_state text;
    v_message text;
BEGIN
    -- The table may have changed since the policy was declared: check it again, as it is now.
    PERFORM mlops.conflict_policy_check(p_referencing, 'combine', p_combine);
    SELECT array_agg(e.key ORDER BY e.key), array_agg(e.value ORDER BY e.key) INTO v_columns, v_aggregates
    FROM jsonb_each_text(p_combine) AS e;

    -- The twins are found by their place (ctid): lock them, so a twin the application updates meanwhile is a
    -- concurrency failure to retry (40001), not mistaken for a trigger that skipped it.
    EXECUTE format(
        'SELECT count(*) FROM (SELECT FROM %s AS r INNER JOIN (SELECT DISTINCT k.toid, k.t FROM unnest($1::oid[],'
        ' $2::tid[]) AS k (toid, t)) AS k ON r.tableoid = k.toid AND r.ctid = k.t ORDER BY k.toid, k.t'
        ' FOR UPDATE OF r) AS l',
        p_referencing
    ) INTO v_updated USING p_keeper_tableoids, p_keeper_ctids;
    SELECT count(*) INTO v_twins
    FROM (SELECT DISTINCT k.toid, k.t FROM unnest(p_keeper_tableoids, p_keeper_ctids) AS k (toid, t)) AS d;
    IF v_updated <> v_twins THEN
        RAISE EXCEPTION 'rows of % changed while the merge combined colliding rows into their twins', p_referencing
            USING ERRCODE = 'serialization_failure',
            DETAIL = 'Another transaction updated or deleted a twin. Nothing was merged.',
            HINT = 'Retry the merge (merge_duplicates does, and leaves it for the next run if it keeps happening).';
    END IF;

    BEGIN
        EXECUTE format(
            $q$
            WITH %8$s, x AS (
                SELECT * FROM unnest($1::oid[], $2::tid[], $3::oid[], $4::tid[], $5::bigint[])
                    WITH ORDINALITY AS x (toid, tid, kt, kc, mid, n)
            ),
            twins AS (SELECT DISTINCT x.kt, x.kc FROM x),
            members AS (
                SELECT x.kt, x.kc, x.mid, 1 AS pos, x.n, %1$s
                FROM x INNER JOIN %2$s AS d ON d.tableoid = x.toid AND d.ctid = x.tid
                UNION ALL
                SELECT tw.kt, tw.kc, NULL::bigint, 0, 0, %3$s
                FROM twins AS tw INNER JOIN %2$s AS k ON k.tableoid = tw.kt AND k.ctid = tw.kc
            ),
            combined AS (
                SELECT m.kt, m.kc, max(m.mid) AS mid, %4$s
                FROM members AS m
                GROUP BY m.kt, m.kc
            ),
            updated AS (
                UPDATE %2$s AS r SET %5$s
                FROM combined AS cb
                WHERE r.tableoid = cb.kt AND r.ctid = cb.kc
                RETURNING cb.mid, %6$s AS row_key, jsonb_build_object(%7$s) AS cols
            ),
            logged AS (
                UPDATE mlops.merges AS mg SET combined = coalesce(mg.combined, '[]'::jsonb) || u.entries
                FROM (
                    SELECT updated.mid, jsonb_agg(jsonb_build_object(
                        'table', $6::text, 'relid', $7::oid, 'row_key', updated.row_key, 'columns', updated.cols
                    ) ORDER BY updated.row_key) AS entries
                    FROM %9$s
                    GROUP BY updated.mid
                ) AS u
                WHERE mg.merge_id = u.mid
            )
            SELECT (SELECT count(*) FROM %9$s), (SELECT count(*) FROM twins)
            $q$,
            mlops.sql_pairs(v_columns, 'd.%1$I AS "c%2$s"', ', '),
            p_referencing,
            mlops.sql_pairs(v_columns, 'k.%1$I AS "c%2$s"', ', '),
            (
                SELECT string_agg(format(
                    '(array_agg(mlops.archive_text(m."c%1$s")) FILTER (WHERE m.pos = 0))[1] AS "old%1$s", %2$s AS "new%1$s"',
                    c.ord,
                    CASE v_aggregates[c.ord]
                        WHEN 'sum' THEN format('sum(m."c%s")', c.ord)
                        WHEN 'min' THEN format('min(m."c%s")', c.ord)
                        WHEN 'max' THEN format('max(m."c%s")', c.ord)
                        -- an array column would aggregate into a bigger array: a subquery for those (it reads the
                        -- twin's members again), the aggregate's first element for every other type
                        WHEN 'fill' THEN CASE WHEN EXISTS (
                            SELECT FROM pg_catalog.pg_attribute AS a INNER JOIN pg_catalog.pg_type AS t
                                ON t.oid = a.atttypid
                            WHERE a.attrelid = p_referencing AND a.attname = v_columns[c.ord]
                                AND (t.typcategory = 'A' OR (t.typtype = 'd' AND EXISTS (
                                    SELECT FROM pg_catalog.pg_type AS b
                                    WHERE b.oid = t.typbasetype AND b.typcategory = 'A')))
                        ) THEN format(
                            '(SELECT f."c%1$s" FROM members AS f WHERE f.kt = m.kt AND f.kc = m.kc'
                            ' AND f."c%1$s" IS NOT NULL ORDER BY f.pos, f.n LIMIT 1)', c.ord)
                        ELSE format(
                            '(array_agg(m."c%1$s" ORDER BY m.pos, m.n) FILTER (WHERE m."c%1$s" IS NOT NULL))[1]', c.ord)
                        END
                        ELSE format('string_agg(m."c%s"::text, E''\n'' ORDER BY m.pos, m.n)', c.ord)
                    END
                ), ', ' ORDER BY c.ord)
                FROM generate_series(1, cardinality(v_columns)) AS c (ord)
            ),
            mlops.sql_pairs(v_columns, '%1$I = cb."new%2$s"', ', '),
            mlops.row_key_sql(p_referencing),
            mlops.sql_pairs(v_columns,
                '%1$L, jsonb_build_object(''old'', cb."old%2$s", ''new'', mlops.archive_text(r.%1$I))', ', '),
            mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('updated')
        ) INTO v_updated, v_twins
        USING p_tableoids, p_ctids, p_keeper_tableoids, p_keeper_ctids, p_merge_ids, p_referencing::text,
            p_referencing::oid;
    EXCEPTION
        WHEN numeric_value_out_of_range OR string_data_right_truncation OR check_violation OR not_null_violation
            OR invalid_text_representation THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
            RAISE EXCEPTION 'cannot merge: the combined values of colliding rows of % do not fit (conflict policy '
                'combine %): %', p_referencing, p_combine, v_message
                USING ERRCODE = v_state,
                DETAIL = 'Nothing was merged; the whole merge is rolled back.',
                HINT = format('Declare another aggregate for that column or the policy twin: UPDATE '
                    'mlops.conflict_policies SET ... WHERE referencing_table = %L::regclass.', p_referencing::text);
    END;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    IF v_updated <> v_twins THEN
        RAISE EXCEPTION 'merge stopped: % of % twin(s) of % took their combined values; a trigger or rule on % '
            'skipped the others', v_updated, v_twins, p_referencing, p_referencing
            USING ERRCODE = 'triggered_action_exception',
            DETAIL = 'Nothing was merged; the whole merge is rolled back.',
            HINT = 'Adapt the BEFORE UPDATE trigger (or rule), or declare the conflict policy twin.';
    END IF;
    RETURN v_updated;
END;
$$;

COMMENT ON FUNCTION mlops.merge_combine_twins(regclass, jsonb, oid[], tid[], oid[], tid[], bigint[]) IS
'Internal, the combine policy: gives each twin (tableoid, ctid) the combined values of itself and its colliding '
'rows for the policy''s columns ({"col": "sum" | "min" | "max" | "fill" | "concat"}) and appends the old and new '
'values (exact text, mlops.archive_text) with the twin''s primary key to mlops.merges.combined of each row''s '
'merge. Returns the twins updated; raises 40001 when a twin changed meanwhile, 09000 when a trigger skipped one, the '
'SQLSTATE of a combined value that does not fit, and what mlops.conflict_policy_check raises.';

REVOKE EXECUTE ON FUNCTION mlops.merge_combine_twins(regclass, jsonb, oid[], tid[], oid[], tid[], bigint[])
FROM PUBLIC;
