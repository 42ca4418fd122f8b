-- mlops.merge_plan_constraints: before a merge re-points anything, evaluates the CHECK and exclusion constraints
-- (and the partition bounds) of every referencing table on its rows as the re-point would leave them, after each FK
-- in turn, with the constraints' own expressions and operators. A violation is refused here with the constraint,
-- the table and the rows, never hit in the middle of the merge. A link row whose two references become the same
-- survivor and that a CHECK then forbids (follow: CHECK (follower <> followee)) is a collision: archived and
-- removed (undo restores it), unless the table's conflict policy is 'refuse' or another row references it.

CREATE OR REPLACE FUNCTION mlops.merge_plan_constraints(
    p_target regclass,
    p_key_column text,
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
    -- $4, $5: the self-link rows being removed, left out of every other check
    v_not_removed CONSTANT text := 'NOT EXISTS (SELECT FROM unnest($4::oid[], $5::tid[]) AS x (toid, t)'
        ' WHERE x.toid = p.mlops_tableoid AND x.t = p.mlops_ctid)';
    v_ref record;
    v_rel record;
    v_con record;
    v_tree regclass[];
    v_final text;
    v_source text;
    v_filter text;
    v_self_link text;
    v_checks text;
    v_leaves text;
    v_count bigint;
    v_keys text[];
    v_link_keys text[];
    v_toids oid[];
    v_ctids tid[];
    v_mids bigint[];
    v_total bigint := 0;
BEGIN
    FOR v_ref IN
        SELECT f.referencing_table AS tbl, count(*)::integer AS fk_count,
            array_agg(f.fk_name ORDER BY f.fk_name) AS fk_names
        FROM mlops.referencing_fks(p_target) AS f
        GROUP BY f.referencing_table
        ORDER BY f.referencing_table::text
    LOOP
        -- The table, its partitions and inheritance children: each may carry constraints of its own.
        WITH RECURSIVE tree AS (
            SELECT v_ref.tbl::oid AS relid, 1 AS depth
            UNION ALL
            SELECT i.inhrelid, t.depth + 1
            FROM pg_catalog.pg_inherits AS i INNER JOIN tree AS t ON i.inhparent = t.relid
        )
        SELECT array_agg(t.relid::regclass ORDER BY t.depth, t.relid) INTO v_tree FROM tree AS t;
        -- A partition key that reads a re-pointed column moves rows between partitions.
        v_leaves := NULL;
        IF EXISTS (
            SELECT FROM pg_catalog.pg_partitioned_table AS pt
            WHERE pt.partrelid = ANY (v_tree::oid[])
                AND (pt.partexprs IS NOT NULL OR EXISTS (
                    SELECT FROM pg_catalog.pg_attribute AS a
                    INNER JOIN mlops.referencing_fks(p_target) AS f ON f.referencing_table = v_ref.tbl
                    WHERE a.attrelid = pt.partrelid AND a.attnum = ANY (pt.partattrs::int2[])
                        AND a.attname = ANY (f.referencing_columns)))
        ) THEN
            SELECT string_agg(format('coalesce((%s), false)', pg_catalog.pg_get_partition_constraintdef(c.oid)),
                ' OR ' ORDER BY c.oid)
            INTO v_leaves
            FROM pg_catalog.pg_class AS c
            WHERE c.oid = ANY (v_tree::oid[]) AND c.relispartition AND c.relkind IN ('r', 'f');
            v_leaves := coalesce(v_leaves, 'false');
        END IF;
        CONTINUE WHEN v_leaves IS NULL AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_constraint AS k WHERE k.conrelid = ANY (v_tree::oid[]) AND k.contype IN ('c', 'x')
        );

        v_final := mlops.merge_projection_sql(p_target, p_key_column, v_ref.tbl, v_ref.fk_count, v_ref.tbl);

        -- 1. Self links: two FKs to the target that did not point at the same row now do, and a CHECK forbids it.
        v_toids := ARRAY[]::oid[];
        v_ctids := ARRAY[]::tid[];
        v_mids := ARRAY[]::bigint[];
        v_self_link := NULL;
        IF v_ref.tbl <> p_target THEN
            SELECT string_agg(format('(%s AND NOT coalesce(%s, false))',
                mlops.sql_column_pairs(a.referencing_columns, b.referencing_columns, 'p.%I = p.%I', ' AND '),
                (SELECT string_agg(format('p.mlops_old_%s = p.mlops_old_%s', x.attnum, y.attnum), ' AND ')
                    FROM unnest(a.referencing_columns, b.referencing_columns) AS u (ca, cb)
                    INNER JOIN pg_catalog.pg_attribute AS x ON x.attrelid = v_ref.tbl AND x.attname = u.ca
                    INNER JOIN pg_catalog.pg_attribute AS y ON y.attrelid = v_ref.tbl AND y.attname = u.cb)),
                ' OR ')
            INTO v_self_link
            FROM mlops.referencing_fks(p_target) AS a
            INNER JOIN mlops.referencing_fks(p_target) AS b
                ON a.referencing_table = b.referencing_table AND a.fk_name < b.fk_name
                AND a.referenced_columns = b.referenced_columns
            WHERE a.referencing_table = v_ref.tbl;
            SELECT string_agg(format('NOT coalesce((%s), true)', pg_catalog.pg_get_expr(k.conbin, k.conrelid)), ' OR ')
            INTO v_checks
            FROM pg_catalog.pg_constraint AS k
            WHERE k.conrelid = v_ref.tbl AND k.contype = 'c';
        END IF;
        IF v_self_link IS NOT NULL AND v_checks IS NOT NULL THEN
            EXECUTE format(
                'SELECT coalesce(array_agg(p.mlops_tableoid ORDER BY p.mlops_row_key), ''{}''),'
                ' coalesce(array_agg(p.mlops_ctid ORDER BY p.mlops_row_key), ''{}''),'
                ' coalesce(array_agg(p.mlops_merge_id ORDER BY p.mlops_row_key), ''{}''),'
                ' (array_agg(p.mlops_row_key::text ORDER BY p.mlops_row_key))[1:5]'
                ' FROM (%s) AS p WHERE (%s) AND (%s)',
                v_final, v_self_link, v_checks
            ) INTO v_toids, v_ctids, v_mids, v_link_keys USING p_loser_ids, p_survivor_ids, p_merge_ids;
        END IF;

        -- 2. CHECK and exclusion constraints on the rows as each FK's UPDATE leaves them (one FK at a time).
        FOR v_k IN 1 .. v_ref.fk_count LOOP
            FOR v_rel IN
                SELECT c.oid::regclass AS rel, c.relispartition AS is_partition, c.relkind,
                    u.ord = 1 AS is_root
                FROM unnest(v_tree) WITH ORDINALITY AS u (rel, ord)
                INNER JOIN pg_catalog.pg_class AS c ON c.oid = u.rel
                ORDER BY u.ord
            LOOP
                IF v_rel.is_root THEN
                    v_source := mlops.merge_projection_sql(p_target, p_key_column, v_ref.tbl, v_k, v_ref.tbl);
                    v_filter := 'true';
                ELSIF v_rel.is_partition THEN
                    -- rows land in the partition whose bounds they satisfy
                    v_source := mlops.merge_projection_sql(p_target, p_key_column, v_ref.tbl, v_k, v_ref.tbl);
                    v_filter := format('coalesce((%s), false)', pg_catalog.pg_get_partition_constraintdef(v_rel.rel));
                ELSE
                    -- inheritance child: its rows stay where they are
                    v_source := mlops.merge_projection_sql(p_target, p_key_column, v_ref.tbl, v_k, v_rel.rel);
                    v_filter := 'true';
                END IF;
                FOR v_con IN
                    SELECT k.conname::text AS conname, k.contype, k.condeferrable, k.conindid,
                        pg_catalog.pg_get_expr(k.conbin, k.conrelid) AS expr
                    FROM pg_catalog.pg_constraint AS k
                    WHERE k.conrelid = v_rel.rel
                        AND (k.contype = 'x' OR (k.contype = 'c' AND (v_rel.is_root OR k.coninhcount = 0)))
                    ORDER BY k.conname
                LOOP
                    IF v_con.contype = 'c' THEN
                        EXECUTE format(
                            'SELECT count(*), (array_agg(p.mlops_row_key::text ORDER BY p.mlops_row_key))[1:5]'
                            ' FROM (%s) AS p WHERE (%s) AND %s AND NOT coalesce((%s), true)',
                            v_source, v_filter, v_not_removed, v_con.expr
                        ) INTO v_count, v_keys USING p_loser_ids, p_survivor_ids, p_merge_ids, v_toids, v_ctids;
                        IF v_count > 0 THEN
                            RAISE EXCEPTION 'cannot merge rows of %: re-pointing % of % would violate check constraint '
                                '% on % row(s): %', p_target,
                                CASE WHEN v_k = v_ref.fk_count AND v_k = 1 THEN 'the references'
                                    ELSE format('foreign key %s', v_ref.fk_names[v_k]) END,
                                v_rel.rel, v_con.conname, v_count,
                                array_to_string(v_keys, ', ') || CASE WHEN v_count > 5 THEN ' …' ELSE '' END
                                USING ERRCODE = 'check_violation',
                                DETAIL = format('CHECK %s fails for those rows once they reference the survivor%s. '
                                    'Nothing was changed.', v_con.expr,
                                    CASE WHEN v_k < v_ref.fk_count THEN ' (the merge re-points one foreign key at '
                                        'a time)' ELSE '' END),
                                HINT = 'Change those rows (or the constraint) first, or merge into another survivor.';
                        END IF;
                    ELSIF v_con.contype = 'x' AND v_rel.relkind IN ('r', 'f')
                        AND (NOT v_con.condeferrable OR v_k = v_ref.fk_count) THEN
                        -- elements as the index has them (columns or expressions), compared with the constraint's
                        -- own operators, schema-qualified
                        PERFORM mlops.merge_plan_exclusion(p_target, v_rel.rel, v_con.conindid, v_rel.is_partition,
                            v_source, v_filter, p_loser_ids, p_survivor_ids, p_merge_ids, v_toids, v_ctids);
                    END IF;
                END LOOP;
            END LOOP;

            -- Partition bounds: a re-pointed row must still fit a partition.
            IF v_leaves IS NOT NULL THEN
                EXECUTE format(
                    'SELECT count(*), (array_agg(p.mlops_row_key::text ORDER BY p.mlops_row_key))[1:5]'
                    ' FROM (%s) AS p WHERE %s AND NOT (%s)',
                    mlops.merge_projection_sql(p_target, p_key_column, v_ref.tbl, v_k, v_ref.tbl),
                    v_not_removed, v_leaves
                ) INTO v_count, v_keys USING p_loser_ids, p_survivor_ids, p_merge_ids, v_toids, v_ctids;
                IF v_count > 0 THEN
                    RAISE EXCEPTION 'cannot merge rows of %: no partition of % accepts % re-pointed row(s): %',
                        p_target, v_ref.tbl, v_count,
                        array_to_string(v_keys, ', ') || CASE WHEN v_count > 5 THEN ' …' ELSE '' END
                        USING ERRCODE = 'check_violation',
                        DETAIL = 'The partition key reads a re-pointed column, and the survivor''s value is outside '
                            'every partition''s bounds. Nothing was changed.',
                        HINT = format('Create a partition of %s for the survivor''s value (or a default partition).',
                            v_ref.tbl);
                END IF;
            END IF;
        END LOOP;

        CONTINUE WHEN cardinality(v_ctids) = 0;

        -- 3. The self-link rows go, archived, unless declared or referenced otherwise.
        v_count := mlops.merge_remove_self_links(p_target, v_ref.tbl, v_toids, v_ctids, v_mids, v_link_keys);
        v_total := v_total + v_count;
    END LOOP;
    RETURN v_total;
END;
$$;

COMMENT ON FUNCTION mlops.merge_plan_constraints(regclass, text, text[], text[], bigint[]) IS
'Internal, first step of a merge (before anything moves): evaluates every CHECK constraint (23514), exclusion '
'constraint (own operators; 23P01) and partition bound (23514) of the referencing tables (partitions and inheritance '
'children included) on the rows as re-pointing each FK in turn leaves them, and refuses violations naming the '
'constraint, the table and the first rows. Link rows whose two FKs to the target become the same survivor and that a '
'CHECK then forbids are archived and removed as collisions (returns how many; undo restores them), unless the '
'table''s conflict policy is refuse or another row references them (23514).';

REVOKE EXECUTE ON FUNCTION mlops.merge_plan_constraints(regclass, text, text[], text[], bigint[]) FROM PUBLIC;
