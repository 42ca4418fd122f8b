-- mlops.merge_plan_exclusion: part of merge planning. Checks one exclusion constraint of a referencing table on its
-- rows as the re-point would leave them, with the constraint's own elements (columns or expressions), operators
-- (schema-qualified) and predicate: a re-pointed row that would conflict with another row is refused (23P01).

CREATE OR REPLACE FUNCTION mlops.merge_plan_exclusion(
    p_target regclass,
    p_table regclass,
    p_index oid,
    p_is_partition boolean,
    p_source text,
    p_filter text,
    p_loser_ids text[],
    p_survivor_ids text[],
    p_merge_ids bigint[],
    p_removed_toids oid[],
    p_removed_ctids tid[]
)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_elements text;
    v_pairs text;
    v_constraint oid;
    v_count bigint;
    v_keys text[];
BEGIN
    SELECT k.oid INTO v_constraint FROM pg_catalog.pg_constraint AS k WHERE k.conindid = p_index AND k.contype = 'x';
    -- elements as the index has them, compared with the constraint's own operators; a cast to the operator's
    -- argument types (unless polymorphic) keeps the same operator chosen
    SELECT
        string_agg(format('(%s) AS mlops_e%s', pg_catalog.pg_get_indexdef(p_index, e.ord::integer, true), e.ord),
            ', ' ORDER BY e.ord),
        string_agg(format('(a.mlops_e%1$s)%2$s OPERATOR(%3$I.%4$s) (b.mlops_e%1$s)%5$s', e.ord,
            CASE WHEN lt.typtype = 'p' THEN '' ELSE '::' || format_type(o.oprleft, NULL) END,
            n.nspname, o.oprname,
            CASE WHEN rt.typtype = 'p' THEN '' ELSE '::' || format_type(o.oprright, NULL) END), ' AND ' ORDER BY e.ord)
    INTO v_elements, v_pairs
    FROM pg_catalog.pg_constraint AS k
    CROSS JOIN LATERAL unnest(k.conexclop) WITH ORDINALITY AS e (op, ord)
    INNER JOIN pg_catalog.pg_operator AS o ON o.oid = e.op
    INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = o.oprnamespace
    INNER JOIN pg_catalog.pg_type AS lt ON lt.oid = o.oprleft
    INNER JOIN pg_catalog.pg_type AS rt ON rt.oid = o.oprright
    WHERE k.oid = v_constraint;

    -- moving: re-pointed rows that land in p_table; staying: its rows the merge does not touch
    EXECUTE format(
        $q$
        WITH touched AS (%1$s),
        moving AS (
            SELECT p.mlops_tableoid, p.mlops_ctid, p.mlops_row_key, %2$s
            FROM touched AS p
            WHERE (%3$s) AND p.mlops_tableoid %4$s AND (%5$s)
                AND NOT EXISTS (SELECT FROM unnest($4::oid[], $5::tid[]) AS x (toid, t)
                    WHERE x.toid = p.mlops_tableoid AND x.t = p.mlops_ctid)
        ),
        staying AS (
            SELECT r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid, %6$s AS mlops_row_key, %2$s
            FROM ONLY %7$s AS r
            WHERE (%5$s) AND NOT EXISTS (
                SELECT FROM touched AS t WHERE t.mlops_tableoid = r.tableoid AND t.mlops_ctid = r.ctid)
        )
        SELECT count(DISTINCT (a.mlops_tableoid, a.mlops_ctid)),
            (array_agg(DISTINCT a.mlops_row_key::text || ' / ' || b.mlops_row_key::text))[1:5]
        FROM moving AS a
        INNER JOIN (SELECT * FROM moving UNION ALL SELECT * FROM staying) AS b
            ON (a.mlops_tableoid, a.mlops_ctid) <> (b.mlops_tableoid, b.mlops_ctid) AND %8$s
        $q$,
        p_source, v_elements, p_filter,
        CASE WHEN p_is_partition THEN 'IS NOT NULL' ELSE format('= %s', p_table::oid) END,
        coalesce((SELECT pg_catalog.pg_get_expr(i.indpred, i.indrelid) FROM pg_catalog.pg_index AS i
            WHERE i.indexrelid = p_index), 'true'),
        mlops.row_key_sql(p_table), p_table, v_pairs
    ) INTO v_count, v_keys USING p_loser_ids, p_survivor_ids, p_merge_ids, p_removed_toids, p_removed_ctids;
    IF v_count > 0 THEN
        RAISE EXCEPTION 'cannot merge rows of %: re-pointing the references of % would violate exclusion constraint '
            '% on % row(s): %', p_target, p_table,
            (SELECT k.conname FROM pg_catalog.pg_constraint AS k WHERE k.oid = v_constraint), v_count,
            array_to_string(v_keys, ', ') || CASE WHEN cardinality(v_keys) >= 5 THEN ' …' ELSE '' END
            USING ERRCODE = 'exclusion_violation',
            DETAIL = format('%s: each re-pointed row (left) would conflict with the row on the right. Nothing was '
                'changed.', pg_catalog.pg_get_constraintdef(v_constraint)),
            HINT = 'Resolve the overlapping rows first (move, shorten or delete one of each pair), or merge into '
                'another survivor.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.merge_plan_exclusion(
    regclass, regclass, oid, boolean, text, text, text[], text[], bigint[], oid[], tid[]
) IS
'Internal, part of mlops.merge_plan_constraints: evaluates the exclusion constraint of index p_index on p_table over '
'the projected rows p_source (those satisfying p_filter land in the table; rows p_removed_* are left out) and the rows '
'the merge does not touch, with the constraint''s own operators; raises 23P01 naming the constraint and the '
'conflicting rows (first five pairs).';

REVOKE EXECUTE ON FUNCTION mlops.merge_plan_exclusion(
    regclass, regclass, oid, boolean, text, text, text[], text[], bigint[], oid[], tid[]
) FROM PUBLIC;
