-- mlops.merge_resolve_collisions: before an FK's rows are re-pointed, finds the rows the re-point would make
-- collide on a unique index of the referencing table (the loser's and the survivor's recommendation for the same
-- job) and resolves them in the plan, never by catching an error: a colliding row is a duplicate of its twin and
-- is merged into it recursively, or, in a table without an integer key, archived and deleted.

CREATE OR REPLACE FUNCTION mlops.merge_resolve_collisions(
    p_target regclass,
    p_key_column text,
    p_referencing regclass,
    p_fk_name text,
    p_fk_columns text[],
    p_referenced_columns text[],
    p_loser_ids bigint[],
    p_survivor_ids bigint[],
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
    v_match text := mlops.sql_pairs(p_fk_columns, 'r.%1$I = v.l%2$s', ' AND ');
    v_row_key text := mlops.integer_key_column(p_referencing);
    v_row_id text;
    -- Self reference: losers never count as twins (a colliding cross-cluster loser makes the UPDATE fail cleanly).
    v_exclude text := mlops.merge_self_exclusion_sql(p_target, p_referencing, p_key_column, false);
    v_fk_attnums int2[];
    v_index record;
    v_carried text[];
    v_projected text;
    v_plain text;
    v_not_null text;
    v_same_key text;
    v_keepers bigint[];
    v_dupes bigint[];
    v_parents bigint[];
    v_tableoids oid[];
    v_ctids tid[];
    v_count bigint;
    v_total bigint := 0;
BEGIN
    v_row_id := CASE WHEN v_row_key IS NULL THEN 'NULL::bigint' ELSE format('r.%I::bigint', v_row_key) END;
    SELECT array_agg(a.attnum) INTO v_fk_attnums
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_referencing AND a.attname = ANY(p_fk_columns);

    FOR v_index IN
        SELECT
            i.indexrelid::regclass AS index_name,
            i.indexprs IS NOT NULL AS has_expressions,
            pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,
            i.indnullsnotdistinct AS nulls_not_distinct,
            (
                SELECT array_agg(a.attname::text ORDER BY k.ord)
                FROM unnest(i.indkey::int2 []) WITH ORDINALITY AS k (attnum, ord)
                INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                WHERE k.ord <= i.indnkeyatts
            ) AS key_columns,
            -- key columns plus the columns its expressions and predicate read (recorded in pg_depend)
            ARRAY(
                SELECT k.attnum
                FROM unnest(i.indkey::int2 []) WITH ORDINALITY AS k (attnum, ord)
                WHERE k.ord <= i.indnkeyatts AND k.attnum > 0
                UNION
                SELECT d.refobjsubid::int2
                FROM pg_catalog.pg_depend AS d
                WHERE d.classid = 'pg_catalog.pg_class'::regclass
                    AND d.objid = i.indexrelid
                    AND d.refclassid = 'pg_catalog.pg_class'::regclass
                    AND d.refobjid = i.indrelid
                    AND d.refobjsubid > 0
            ) AS involved
        FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = p_referencing AND i.indisunique
        ORDER BY i.indexrelid
    LOOP
        CONTINUE WHEN NOT (v_index.involved && v_fk_attnums);
        IF v_index.has_expressions THEN
            RAISE EXCEPTION 'cannot merge through %: unique index % is an expression index over its FK columns',
                p_referencing, v_index.index_name
                USING ERRCODE = 'feature_not_supported',
                DETAIL = format('FK %s re-points columns %s; which rows would collide under the expression is '
                    'not something the merge guesses.', p_fk_name, p_fk_columns),
                HINT = 'Replace the expression index by one on plain columns, or merge these rows by hand.';
        END IF;

        -- Carry the unique key's columns; for a partial index every column, since its predicate may read any.
        IF v_index.predicate IS NULL THEN
            v_carried := v_index.key_columns;
        ELSE
            SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_carried
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = p_referencing AND a.attnum > 0 AND NOT a.attisdropped;
        END IF;
        SELECT string_agg(
            CASE WHEN c.col = ANY(p_fk_columns)
                THEN format('v.s%s AS %I', array_position(p_fk_columns, c.col), c.col)
                ELSE format('r.%1$I AS %1$I', c.col)
            END, ', ' ORDER BY c.ord)
        INTO v_projected
        FROM unnest(v_carried) WITH ORDINALITY AS c (col, ord);
        v_plain := mlops.sql_pairs(v_carried, 'r.%1$I', ', ');
        v_not_null := CASE WHEN v_index.nulls_not_distinct THEN 'true'
            ELSE mlops.sql_pairs(v_index.key_columns, 'p.%1$I IS NOT NULL', ' AND ') END;
        v_same_key := mlops.sql_pairs(
            v_index.key_columns,
            CASE WHEN v_index.nulls_not_distinct THEN 'mv.%1$I IS NOT DISTINCT FROM r.%1$I' ELSE 'mv.%1$I = r.%1$I' END,
            ' AND '
        );

        -- moving: rows as they would be after the re-point; staying: rows already holding those key values.
        -- In each group of equal key values the staying row (or the lowest id) is the twin the others merge into.
        EXECUTE format(
            $q$
            WITH moving AS (
                SELECT p.* FROM (
                    SELECT %1$s, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid, %2$s AS mlops_row_id,
                        v.merge_id AS mlops_merge_id, true AS mlops_moving
                    FROM %3$s AS r INNER JOIN (%4$s) AS v ON %5$s%6$s
                ) AS p
                WHERE (%7$s) AND %8$s
            ),
            staying AS (
                SELECT p.* FROM (
                    SELECT %9$s, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid, %2$s AS mlops_row_id,
                        NULL::bigint AS mlops_merge_id, false AS mlops_moving
                    FROM %3$s AS r
                    WHERE EXISTS (SELECT FROM moving AS mv WHERE %10$s)
                        AND NOT EXISTS (SELECT FROM (%4$s) AS v WHERE %5$s)%6$s
                ) AS p
                WHERE (%7$s)
            ),
            grouped AS (
                SELECT
                    c.mlops_tableoid, c.mlops_ctid, c.mlops_row_id,
                    count(*) OVER w AS mlops_size,
                    first_value(c.mlops_tableoid) OVER w_ord AS keeper_tableoid,
                    first_value(c.mlops_ctid) OVER w_ord AS keeper_ctid,
                    first_value(c.mlops_row_id) OVER w_ord AS keeper_id,
                    max(c.mlops_merge_id) OVER w AS group_merge_id
                FROM (SELECT * FROM moving UNION ALL SELECT * FROM staying) AS c
                WINDOW w AS (PARTITION BY %11$s),
                    w_ord AS (PARTITION BY %11$s ORDER BY c.mlops_moving, c.mlops_row_id, c.mlops_ctid)
            )
            SELECT array_agg(g.keeper_id), array_agg(g.mlops_row_id), array_agg(g.group_merge_id),
                array_agg(g.mlops_tableoid), array_agg(g.mlops_ctid)
            FROM grouped AS g
            WHERE g.mlops_size > 1 AND (g.mlops_tableoid, g.mlops_ctid) <> (g.keeper_tableoid, g.keeper_ctid)
            $q$,
            v_projected, v_row_id, p_referencing, v_mapping, v_match, v_exclude,
            coalesce(v_index.predicate, 'true'), v_not_null, v_plain, v_same_key,
            mlops.sql_pairs(v_index.key_columns, 'c.%1$I', ', ')
        ) INTO v_keepers, v_dupes, v_parents, v_tableoids, v_ctids
        USING p_loser_ids, p_survivor_ids, p_merge_ids;

        CONTINUE WHEN v_ctids IS NULL;

        IF v_row_key IS NOT NULL THEN
            -- The colliding row is a duplicate of its twin: merge it, so its own referencers follow.
            SELECT r.conflict_rows INTO v_count
            FROM mlops.merge_clusters(p_referencing, v_keepers, v_dupes, 'conflict', NULL, v_parents) AS r;
            v_total := v_total + cardinality(v_dupes) + v_count;
        ELSE
            IF EXISTS (SELECT FROM mlops.foreign_key_catalog() AS f WHERE f.referenced_table = p_referencing) THEN
                RAISE EXCEPTION
                    'cannot merge through %: its rows collide on % but it has no integer key to merge them by',
                    p_referencing, v_index.index_name
                    USING ERRCODE = 'feature_not_supported',
                    DETAIL = 'Other tables reference it, so colliding rows cannot simply be archived and deleted.',
                    HINT = 'Give the table a single-column integer primary key.';
            END IF;
            -- No key to merge by and nothing references it: archive the colliding rows, then delete them.
            EXECUTE format(
                'WITH gone AS (DELETE FROM %1$s AS r'
                ' USING unnest($1::oid[], $2::tid[], $3::bigint[]) AS x (toid, t, mid)'
                ' WHERE r.tableoid = x.toid AND r.ctid = x.t RETURNING x.mid, to_jsonb(r) AS row_data)'
                ' INSERT INTO mlops.merge_archive (merge_id, target, row_data)'
                ' SELECT gone.mid, %2$L::regclass, gone.row_data'
                ' FROM gone',
                p_referencing, p_referencing
            ) USING v_tableoids, v_ctids, v_parents;
            GET DIAGNOSTICS v_count = ROW_COUNT;
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
    regclass, text, regclass, text, text[], text[], bigint[], bigint[], bigint[]
) IS
'For one FK of a merge: finds referencing rows that re-pointing would make collide on a unique index (partial '
'indexes honoured, expression indexes over the FK refused) and merges each into its twin with merge_clusters, or '
'archives and deletes it in a table without an integer key. Returns how many rows went away, recursion included.';

REVOKE EXECUTE ON FUNCTION mlops.merge_resolve_collisions(
    regclass, text, regclass, text, text[], text[], bigint[], bigint[], bigint[]
) FROM PUBLIC;
