-- mlops.merge_projection_sql: the rows of a referencing table as a merge would leave them, before it changes any:
-- a subquery over the rows one of the first p_fk_count FKs of p_referencing to the target re-points, every column
-- under its own name (re-pointed FK columns with the survivor's values, or, for a survivor that references its own
-- loser, the loser's own reference), so a CHECK or exclusion constraint's own expression can be evaluated over it.

CREATE OR REPLACE FUNCTION mlops.merge_projection_sql(
    p_target regclass,
    p_key_column text,
    p_referencing regclass,
    p_fk_count integer,
    p_from regclass
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_fk record;
    v_n integer := 0;
    v_joins text := '';
    v_touched text[] := ARRAY[]::text[];
    v_merge_ids text[] := ARRAY[]::text[];
    v_exprs jsonb := '{}'::jsonb;
    v_new text;
    v_columns text;
    v_old text := '';
    v_row_key text := mlops.key_column(p_from);
BEGIN
    -- $1 loser keys, $2 survivor keys (text[]), $3 merge ids; FKs in the order merge_clusters re-points them.
    FOR v_fk IN
        SELECT f.* FROM mlops.referencing_fks(p_target) AS f
        WHERE f.referencing_table = p_referencing
        ORDER BY f.fk_name
        LIMIT p_fk_count
    LOOP
        v_n := v_n + 1;
        v_joins := v_joins || format(' LEFT JOIN (%s) AS v%s ON %s', mlops.merge_mapping_sql(
            p_target, p_key_column, v_fk.referenced_columns), v_n,
            mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 'v' || v_n || '.l%1$s'));
        IF p_referencing = p_target THEN
            -- as merge_repoint: losers of the same cluster keep their value (they go away with it)
            v_joins := v_joins || format(
                ' AND NOT EXISTS (SELECT FROM unnest($1::text[], $2::text[]) AS o (loser_id, survivor_id)'
                ' WHERE %1$s AND o.survivor_id = v%2$s.survivor_id)',
                mlops.key_match_sql(p_target, 'r', 'o.loser_id', false), v_n);
        END IF;
        v_touched := v_touched || format('v%s.loser_id IS NOT NULL', v_n);
        v_merge_ids := v_merge_ids || format('v%s.merge_id', v_n);
        IF p_referencing = p_target AND v_fk.referenced_columns = ARRAY[p_key_column]
            AND cardinality(v_fk.referencing_columns) = 1 THEN
            v_joins := v_joins || format(
                ' LEFT JOIN (%1$s) AS h%2$s'
                ' ON h%2$s.survivor_id = v%2$s.survivor_id AND h%2$s.loser_id = v%2$s.loser_id',
                mlops.merge_hierarchy_sql(p_target, p_key_column, v_fk.referencing_columns[1]), v_n);
            v_new := format('CASE WHEN %1$s THEN (h%2$s.new_ref)::%3$s ELSE v%2$s.s1 END',
                mlops.key_match_sql(p_target, 'r', format('h%s.survivor_id', v_n), false), v_n,
                mlops.key_type_sql(p_target));
        ELSE
            v_new := NULL;
        END IF;
        -- a column in two FKs takes the value of the later one, as the later UPDATE leaves it
        SELECT v_exprs || jsonb_object_agg(c.col, format(
            'CASE WHEN v%s.loser_id IS NOT NULL THEN (%s)::%s ELSE %s END', v_n,
            coalesce(v_new, format('v%s.s%s', v_n, c.ord)), format_type(a.atttypid, a.atttypmod),
            coalesce(v_exprs ->> c.col, format('r.%I', c.col))))
        INTO v_exprs
        FROM unnest(v_fk.referencing_columns) WITH ORDINALITY AS c (col, ord)
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p_from AND a.attname = c.col;
    END LOOP;
    IF v_n = 0 THEN
        RETURN NULL;
    END IF;

    -- Every column of p_from under its name (re-pointed ones cast back to their type), then the row's identity and,
    -- for each FK column, its value before the merge (mlops_old_<attnum>).
    SELECT
        string_agg(CASE WHEN v_exprs ? a.attname::text
            THEN (v_exprs ->> a.attname::text) || format(' AS %I', a.attname)
            ELSE format('r.%1$I AS %1$I', a.attname) END, ', ' ORDER BY a.attnum),
        coalesce(string_agg(format(', r.%I AS mlops_old_%s', a.attname, a.attnum), '' ORDER BY a.attnum)
            FILTER (WHERE v_exprs ? a.attname::text), '')
    INTO v_columns, v_old
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_from AND a.attnum > 0 AND NOT a.attisdropped;

    RETURN format(
        'SELECT %1$s, r.tableoid AS mlops_tableoid, r.ctid AS mlops_ctid, %2$s AS mlops_row_key,'
        ' %3$s AS mlops_row_id, coalesce(%4$s) AS mlops_merge_id%5$s FROM %6$s AS r%7$s WHERE %8$s',
        v_columns, mlops.row_key_sql(p_from),
        CASE WHEN v_row_key IS NULL THEN 'NULL::text' ELSE mlops.key_text_sql(p_from, format('r.%I', v_row_key)) END,
        array_to_string(v_merge_ids, ', '), v_old, p_from, v_joins, array_to_string(v_touched, ' OR ')
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_projection_sql(regclass, text, regclass, integer, regclass) IS
'Internal: SQL text (parameters $1 loser keys, $2 survivor keys, $3 merge ids) of the rows of p_from that the first '
'p_fk_count FKs of p_referencing to p_target (by name) re-point, as they would be afterwards: every column under its '
'name, then mlops_tableoid, mlops_ctid, mlops_row_key (jsonb), mlops_row_id (key text), mlops_merge_id and '
'mlops_old_<attnum> '
'(each FK column''s value before). NULL when p_referencing has no FK to p_target.';

REVOKE EXECUTE ON FUNCTION mlops.merge_projection_sql(regclass, text, regclass, integer, regclass) FROM PUBLIC;
