-- mlops.merge_resolve_collisions: before an FK's rows are re-pointed, finds the rows the re-point would make
-- collide on a unique index of the referencing table (the loser's and the survivor's recommendation for the same
-- job) and resolves them in the plan, never by catching an error, as the table's conflict policy says: twin (merged
-- into its twin, or archived and deleted in a table without a single-column key), combine (the same, the twin keeping
-- the combined values) or refuse. Every merge records what it resolved (mlops.merges.conflicts) and says so.

CREATE OR REPLACE FUNCTION mlops.merge_resolve_collisions(
    p_target regclass,
    p_key_column text,
    p_referencing regclass,
    p_fk_name text,
    p_fk_columns text[],
    p_referenced_columns text[],
    p_loser_ids text[],
    p_survivor_ids text[],
    p_merge_ids bigint[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_mapping text := mlops.merge_mapping_sql(p_target, p_key_column, p_referenced_columns);
    v_match text := mlops.fk_match_sql(p_referencing, p_fk_name, 'r', 'v.l%1$s');
    v_row_key text := mlops.key_column(p_referencing);
    v_row_id text;
    v_row_order text;
    -- Self reference: losers never count as twins (a colliding cross-cluster loser makes the UPDATE fail cleanly).
    v_exclude text := mlops.merge_self_exclusion_sql(p_target, p_referencing, false);
    v_action text := 'twin';
    v_soft_delete boolean;
    v_fill_nulls boolean;
    v_combine jsonb;
    v_fk_attnums int2[];
    v_base text;
    v_generated text;
    v_pk_columns text[] := mlops.primary_key_columns(p_referencing);
    v_index record;
    v_key_exprs text[];
    v_moving_keys text;
    v_staying_keys text;
    v_pair_keys text;
    v_not_null text;
    v_compare text[];
    v_keepers text[];
    v_dupes text[];
    v_parents bigint[];
    v_tableoids oid[];
    v_ctids tid[];
    v_keeper_tableoids oid[];
    v_keeper_ctids tid[];
    v_rows text;
    v_merged bigint;
    v_differed bigint;
    v_columns text[];
    v_count bigint;
    v_total bigint := 0;
    v_declared record;
    -- Probe through indexes: each loser's referencing rows through an index that leads with the FK's columns, and
    -- each moving row's twin through the unique index itself, so a batch costs what it moves, not the table's size
    -- (a hash join read the whole referencing table twice per batch). Not for a self reference, a declared
    -- reference, a table with inheritance children or partitions, or an FK no index leads with: one scan then.
    v_probe boolean;
    v_moving_from text;
    v_staying_from text;
BEGIN
    SELECT p.action, p.combine INTO v_action, v_combine
    FROM mlops.conflict_policies AS p WHERE p.referencing_table = p_referencing;
    v_action := coalesce(v_action, 'twin');
    SELECT d.* INTO v_declared FROM mlops.declared_reference(p_referencing, p_fk_name) AS d;
    IF v_declared.json_path IS NOT NULL THEN
        -- a key inside a json document: no unique index reads it as a column; a collision (an index on an
        -- expression over the document) fails the re-point with its own SQLSTATE, nothing changed
        RETURN 0;
    END IF;
    -- colliding rows are named by their key as text (merged by it); the lowest key in the key's order is the twin
    v_row_id := CASE WHEN v_row_key IS NULL THEN 'NULL::text'
        ELSE mlops.key_text_sql(p_referencing, format('r.%I', v_row_key)) END;
    v_row_order := CASE WHEN v_row_key IS NULL THEN 'NULL::text'
        ELSE format('(d.mlops_row_id)::%s', mlops.key_type_sql(p_referencing)) END;
    SELECT array_agg(a.attnum) INTO v_fk_attnums
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_referencing AND a.attname = ANY(p_fk_columns);

    -- A moving row as it would be after the re-point: the FK columns take the survivor's values, generated
    -- columns are computed again from the row so changed (their expressions read the columns unqualified).
    SELECT
        string_agg(
            CASE WHEN a.attname = ANY (p_fk_columns) AND v_declared.id_column IS NOT NULL
                THEN format('(v.s1)::%s AS %I', v_declared.id_type, a.attname)
                WHEN a.attname = ANY (p_fk_columns)
                THEN format('v.s%s AS %I', array_position(p_fk_columns, a.attname::text), a.attname)
                ELSE format('r.%1$I AS %1$I', a.attname)
            END, ', ' ORDER BY a.attnum
        ) FILTER (WHERE a.attgenerated = ''),
        string_agg(
            format('(%s) AS %I', pg_catalog.pg_get_expr(d.adbin, d.adrelid), a.attname), ', ' ORDER BY a.attnum
        ) FILTER (WHERE a.attgenerated <> '')
    INTO v_base, v_generated
    FROM pg_catalog.pg_attribute AS a
    LEFT JOIN pg_catalog.pg_attrdef AS d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE a.attrelid = p_referencing AND a.attnum > 0 AND NOT a.attisdropped;

    v_probe := p_referencing <> p_target AND v_declared.id_column IS NULL
        AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = p_referencing)
        AND mlops.index_leads_with(p_referencing, p_fk_columns);
    IF v_probe THEN
        -- OFFSET 0 keeps the subquery a parameterized scan per loser (an index probe), not a join to plan freely
        v_moving_from := format(
            '(%1$s) AS v CROSS JOIN LATERAL (SELECT r.*, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid'
            ' FROM %2$s AS r WHERE %3$s%4$s OFFSET 0) AS r',
            v_mapping, p_referencing, v_match, mlops.merge_merged_rows_stay_sql(p_referencing, p_merge_ids)
        );
    ELSE
        v_moving_from := format(
            '(SELECT r.*, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid FROM %1$s AS r) AS r'
            ' INNER JOIN (%2$s) AS v ON %3$s%4$s%5$s', p_referencing, v_mapping, v_match, v_exclude,
            mlops.merge_merged_rows_stay_sql(p_referencing, p_merge_ids)
        );
    END IF;

    FOR v_index IN
        SELECT u.* FROM mlops.unique_index_keys(p_referencing) AS u
    LOOP
        CONTINUE WHEN NOT (v_index.involved && v_fk_attnums);
        IF cardinality(v_index.key_operators) <> v_index.indnkeyatts THEN
            RAISE EXCEPTION 'cannot merge through %: no equality operator found for unique index %', p_referencing,
                v_index.index_name
                USING ERRCODE = 'feature_not_supported',
                DETAIL = 'Which rows collide is decided with the index''s own operators.',
                HINT = 'Merge these rows by hand.';
        END IF;
        v_key_exprs := v_index.key_exprs;
        v_moving_keys := '';
        v_staying_keys := '';
        v_pair_keys := '';
        v_not_null := 'true';
        FOR i IN 1 .. v_index.indnkeyatts LOOP
            v_moving_keys := v_moving_keys || format('%s AS mlops_k%s, ', v_key_exprs[i], i);
            v_staying_keys := v_staying_keys || CASE WHEN i > 1 THEN ' AND ' ELSE '' END || format(
                CASE WHEN v_index.nulls_not_distinct
                    THEN '((mv.mlops_k%1$s%2$s) %3$s %4$s OR (mv.mlops_k%1$s IS NULL AND %4$s IS NULL))'
                    ELSE '(mv.mlops_k%1$s%2$s) %3$s %4$s' END,
                i, v_index.key_collations[i], v_index.key_operators[i], v_key_exprs[i]
            );
            v_pair_keys := v_pair_keys || CASE WHEN i > 1 THEN ' AND ' ELSE '' END || format(
                CASE WHEN v_index.nulls_not_distinct
                    THEN '((d.mlops_k%1$s%2$s) %3$s c.mlops_k%1$s OR (d.mlops_k%1$s IS NULL AND c.mlops_k%1$s IS NULL))'
                    ELSE '(d.mlops_k%1$s%2$s) %3$s c.mlops_k%1$s' END,
                i, v_index.key_collations[i], v_index.key_operators[i]
            );
            IF NOT v_index.nulls_not_distinct THEN
                v_not_null := v_not_null || format(' AND p.mlops_k%s IS NOT NULL', i);
            END IF;
        END LOOP;

        IF v_probe AND NOT v_index.nulls_not_distinct THEN
            -- the staying rows equal to a moving row's keys, found through the unique index itself (moving rows
            -- that share keys find a row twice: paired below keeps one), the rows that reference a loser left out
            v_staying_from := format(
                '(SELECT %1$s FROM moving AS m) AS mv CROSS JOIN LATERAL ('
                ' SELECT r.*, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid, %2$s AS mlops_row_id'
                ' FROM %3$s AS r WHERE (%4$s) AND %5$s OFFSET 0) AS p'
                ' WHERE NOT EXISTS (SELECT FROM (%6$s) AS v WHERE %7$s)',
                (SELECT string_agg(format('m.mlops_k%s', k), ', ')
                    FROM generate_series(1, v_index.indnkeyatts) AS k),
                v_row_id, p_referencing, coalesce(v_index.predicate, 'true'), v_staying_keys, v_mapping,
                mlops.fk_match_sql(p_referencing, p_fk_name, 'p', 'v.l%1$s')
            );
        ELSE
            v_staying_from := format(
                '(SELECT r.*, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid, %1$s AS mlops_row_id FROM %2$s AS r'
                ' WHERE NOT EXISTS (SELECT FROM (%3$s) AS v WHERE %4$s)%5$s) AS p'
                ' WHERE (%6$s) AND EXISTS (SELECT FROM moving AS mv WHERE %7$s)',
                v_row_id, p_referencing, v_mapping, v_match, v_exclude, coalesce(v_index.predicate, 'true'),
                v_staying_keys
            );
        END IF;
        -- moving: rows as they would be after the re-point, with their key values under the index (expressions
        -- evaluated, generated columns recomputed, the predicate of a partial index applied); staying: rows equal
        -- to one of them under the index's own operators. In each group the staying row (else the lowest id) is
        -- the twin the others collide with.
        EXECUTE format(
            $q$
            WITH moving AS (
                SELECT p.* FROM (
                    SELECT %1$s p.mlops_tableoid, p.mlops_ctid, p.mlops_row_id, p.mlops_merge_id,
                        true AS mlops_moving
                    FROM (
                        SELECT b.*%2$s FROM (
                            SELECT %3$s, r.mlops_tableoid, r.mlops_ctid,
                                %4$s AS mlops_row_id, v.merge_id AS mlops_merge_id
                            FROM %15$s
                        ) AS b
                    ) AS p
                    WHERE (%9$s)
                ) AS p
                WHERE %10$s
            ),
            staying AS (
                SELECT %1$s p.mlops_tableoid, p.mlops_ctid, p.mlops_row_id, NULL::bigint AS mlops_merge_id,
                    false AS mlops_moving
                FROM %16$s
            ),
            candidates AS (SELECT * FROM moving UNION ALL SELECT * FROM staying),
            paired AS (
                SELECT DISTINCT ON (c.mlops_tableoid, c.mlops_ctid)
                    c.mlops_tableoid AS toid, c.mlops_ctid AS tid, c.mlops_row_id AS row_id,
                    coalesce(c.mlops_merge_id, d.mlops_merge_id) AS merge_id,
                    d.mlops_tableoid AS keeper_toid, d.mlops_ctid AS keeper_tid, d.mlops_row_id AS keeper_id
                FROM candidates AS c INNER JOIN candidates AS d ON %12$s
                ORDER BY c.mlops_tableoid, c.mlops_ctid, d.mlops_moving, %14$s, d.mlops_tableoid, d.mlops_ctid
            )
            SELECT array_agg(g.keeper_id ORDER BY g.toid, g.tid), array_agg(g.row_id ORDER BY g.toid, g.tid),
                array_agg(g.merge_id ORDER BY g.toid, g.tid), array_agg(g.toid ORDER BY g.toid, g.tid),
                array_agg(g.tid ORDER BY g.toid, g.tid), array_agg(g.keeper_toid ORDER BY g.toid, g.tid),
                array_agg(g.keeper_tid ORDER BY g.toid, g.tid)
            FROM paired AS g
            WHERE (g.toid, g.tid) <> (g.keeper_toid, g.keeper_tid)
            $q$,
            v_moving_keys,
            coalesce(', ' || v_generated, ''),
            v_base, v_row_id, p_referencing, v_mapping, v_match, v_exclude,
            coalesce(v_index.predicate, 'true'), v_not_null, v_staying_keys, v_pair_keys,
            mlops.merge_merged_rows_stay_sql(p_referencing, p_merge_ids), v_row_order, v_moving_from,
            v_staying_from
        ) INTO v_keepers, v_dupes, v_parents, v_tableoids, v_ctids, v_keeper_tableoids, v_keeper_ctids
        USING p_loser_ids, p_survivor_ids, p_merge_ids;

        CONTINUE WHEN v_ctids IS NULL;

        IF v_action = 'refuse' THEN
            EXECUTE format(
                'SELECT string_agg(format(''%%s with %%s'', x.dupe, x.twin), ''; '' ORDER BY x.n) FILTER (WHERE x.n <= 5)'
                ' FROM (SELECT u.n, (SELECT %1$s FROM %2$s AS r WHERE r.tableoid = u.toid AND r.ctid = u.tid) AS dupe,'
                ' (SELECT %1$s FROM %2$s AS r WHERE r.tableoid = u.kt AND r.ctid = u.kc) AS twin'
                ' FROM unnest($1::oid[], $2::tid[], $3::oid[], $4::tid[]) WITH ORDINALITY AS u (toid, tid, kt, kc, n)'
                ') AS x',
                mlops.row_key_sql(p_referencing), p_referencing
            ) INTO v_rows USING v_tableoids, v_ctids, v_keeper_tableoids, v_keeper_ctids;
            RAISE EXCEPTION 'merge into % refused: % row(s) of % would collide with their twins on unique index % '
                '(conflict policy refuse)', p_target, cardinality(v_ctids), p_referencing, v_index.index_name
                USING ERRCODE = 'integrity_constraint_violation',
                DETAIL = format('Re-pointing FK %s would make them equal: %s%s. Nothing was changed.', p_fk_name,
                    v_rows, CASE WHEN cardinality(v_ctids) > 5
                        THEN format(' … and %s more', cardinality(v_ctids) - 5) ELSE '' END),
                HINT = format('Resolve these rows first, or declare another policy: UPDATE mlops.conflict_policies '
                    'SET action = ''twin'' WHERE referencing_table = %L::regclass (or action ''combine'').',
                    p_referencing::text);
        END IF;

        IF v_row_key IS NULL THEN
            PERFORM mlops.merge_assert_unreferenced_rows(p_referencing, v_index.index_name, v_tableoids, v_ctids);
        END IF;

        -- The report: per merge, colliding rows and those that differ from their twin outside keys, references
        -- and the index (compared as text: every type has one).
        SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_compare
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_referencing AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            AND NOT (a.attnum = ANY (v_index.involved))
            AND NOT (a.attname = ANY (coalesce(v_pk_columns, '{}') || ARRAY['deleted_at', 'merged_into']))
            AND NOT EXISTS (
                SELECT FROM pg_catalog.pg_constraint AS c
                WHERE c.conrelid = p_referencing AND c.contype = 'f' AND a.attnum = ANY (c.conkey)
            );
        EXECUTE format(
            $q$
            WITH per_merge AS (
                SELECT x.mid, count(*) AS merged, count(*) FILTER (WHERE %1$s) AS differed,
                    to_jsonb(array_remove(ARRAY[%2$s]::text[], NULL)) AS cols
                FROM unnest($1::oid[], $2::tid[], $3::oid[], $4::tid[], $5::bigint[]) AS x (toid, tid, kt, kc, mid)
                INNER JOIN %3$s AS d ON d.tableoid = x.toid AND d.ctid = x.tid
                INNER JOIN %3$s AS k ON k.tableoid = x.kt AND k.ctid = x.kc
                GROUP BY x.mid
            ),
            recorded AS (
                UPDATE mlops.merges AS mg SET conflicts = coalesce(mg.conflicts, '{}'::jsonb) || jsonb_build_object(
                    $6::text, jsonb_build_object(
                        'policy', $7::text,
                        'merged', coalesce((mg.conflicts -> $6 ->> 'merged')::bigint, 0) + pm.merged,
                        'differed', coalesce((mg.conflicts -> $6 ->> 'differed')::bigint, 0) + pm.differed,
                        'columns', (
                            SELECT coalesce(jsonb_agg(DISTINCT e.value), '[]'::jsonb)
                            FROM jsonb_array_elements(coalesce(mg.conflicts -> $6 -> 'columns', '[]') || pm.cols) AS e
                        )
                    )
                )
                FROM per_merge AS pm
                WHERE mg.merge_id = pm.mid
                RETURNING pm.merged, pm.differed, pm.cols
            )
            SELECT sum(rc.merged)::bigint, sum(rc.differed)::bigint,
                (SELECT array_agg(DISTINCT e.value) FROM recorded AS rr, jsonb_array_elements_text(rr.cols) AS e)
            FROM recorded AS rc
            $q$,
            coalesce(mlops.sql_pairs(v_compare, 'd.%1$I::text IS DISTINCT FROM k.%1$I::text', ' OR '), 'false'),
            coalesce(mlops.sql_pairs(v_compare,
                'CASE WHEN bool_or(d.%1$I::text IS DISTINCT FROM k.%1$I::text) THEN %1$L END', ', '), ''),
            p_referencing
        ) INTO v_merged, v_differed, v_columns
        USING v_tableoids, v_ctids, v_keeper_tableoids, v_keeper_ctids, v_parents, p_referencing::text, v_action;
        RAISE NOTICE 'merge into %: % colliding row(s) of % merged into their twins on % (conflict policy %); % of '
            'them differed from their twin%', p_target, v_merged, p_referencing, v_index.index_name, v_action,
            v_differed, coalesce(' (' || array_to_string(v_columns, ', ') || ')', '');

        IF v_action = 'combine' THEN
            PERFORM mlops.merge_combine_twins(
                p_referencing, v_combine, v_tableoids, v_ctids, v_keeper_tableoids, v_keeper_ctids, v_parents
            );
        END IF;

        IF v_row_key IS NOT NULL THEN
            -- The colliding row is a duplicate of its twin: merge it, so its own referencers follow. With the
            -- parent's options: soft delete where the table has the columns for it, fill_nulls.
            SELECT bool_or(m.soft_deleted) AND mlops.has_soft_delete_columns(p_referencing), bool_or(m.fill_nulls)
            INTO v_soft_delete, v_fill_nulls
            FROM mlops.merges AS m WHERE m.merge_id = ANY (v_parents);
            SELECT r.conflict_rows INTO v_count
            FROM mlops.merge_clusters(
                p_referencing, v_keepers, v_dupes, 'conflict', NULL, v_parents, v_soft_delete, v_fill_nulls
            ) AS r;
            v_total := v_total + cardinality(v_dupes) + v_count;
        ELSE
            -- No key to merge by and nothing references it: archive the colliding rows, then delete them.
            EXECUTE format(
                'WITH %3$s, gone AS (DELETE FROM %1$s AS r'
                ' USING unnest($1::oid[], $2::tid[], $3::bigint[]) AS x (toid, t, mid)'
                ' WHERE r.tableoid = x.toid AND r.ctid = x.t'
                ' RETURNING x.mid, to_jsonb(r.*) AS row_data, %5$s AS row_text)'
                ' INSERT INTO mlops.merge_archive (merge_id, target, row_data, row_text)'
                ' SELECT gone.mid, %2$L::regclass, gone.row_data, gone.row_text'
                ' FROM %4$s',
                p_referencing, p_referencing,
                mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('gone'),
                mlops.archive_row_text_sql(p_referencing, 'r')
            ) USING v_tableoids, v_ctids, v_parents;
            GET DIAGNOSTICS v_count = ROW_COUNT;
            PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
            IF v_count <> cardinality(v_ctids) THEN
                RAISE EXCEPTION 'rows of % changed while the merge resolved collisions', p_referencing
                    USING ERRCODE = 'serialization_failure', HINT = 'Retry the merge.';
            END IF;
            v_total := v_total + v_count;
        END IF;
    END LOOP;
    RETURN v_total;
END;
$$;

COMMENT ON FUNCTION mlops.merge_resolve_collisions(
    regclass, text, regclass, text, text[], text[], text[], text[], bigint[]
) IS
'For one FK of a merge: finds referencing rows that re-pointing would make collide on a unique index, as the index '
'compares them (partial, deferrable, NULLS NOT DISTINCT, expression indexes and generated columns evaluated on the '
'rows as re-pointed, the operator class''s equality and the collation), and applies the table''s conflict policy '
'(mlops.conflict_policies; none: twin): twin merges each into its twin with merge_clusters (or archives and '
'deletes it in a table without a single-column primary key), combine also gives the twin the combined values '
'(mlops.merge_combine_twins), refuse raises 23000 naming the rows, the index and the policy to declare. Records '
'per merge and table the colliding rows and how many differed from their twin (mlops.merges.conflicts), with a '
'NOTICE. Returns how many rows went away, recursion included.';

REVOKE EXECUTE ON FUNCTION mlops.merge_resolve_collisions(
    regclass, text, regclass, text, text[], text[], text[], text[], bigint[]
) FROM PUBLIC;
