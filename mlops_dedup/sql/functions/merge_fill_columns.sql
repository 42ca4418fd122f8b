-- mlops.merge_fill_columns: fills the given survivor columns that are NULL with the first non-NULL value of their
-- losers (in the order given), read from the losers' rows or, once they are deleted, from their archive copies;
-- works for every type (nothing is compared or aggregated but positions) and records for undo what it wrote, or,
-- when not applying, records the columns it would have filled as skipped.

CREATE OR REPLACE FUNCTION mlops.merge_fill_columns(
    p_target regclass,
    p_key_column text,
    p_columns text[],
    p_loser_ids text[],
    p_survivor_ids text[],
    p_merge_ids bigint[],
    p_from_archive boolean,
    p_apply boolean
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_source text;
    v_plan text;
    v_count bigint;
    v_self_refs text[];
    v_wanted boolean[];
    v_offered boolean[];
    v_columns text[];
BEGIN
    IF p_columns IS NULL OR cardinality(p_columns) = 0 THEN
        RETURN 0;
    END IF;
    -- One join per column below: a wide table goes in slices of 40 columns (PostgreSQL joins at most 32767 columns).
    IF cardinality(p_columns) > 40 THEN
        v_count := 0;
        FOR v_slice IN 0 .. (cardinality(p_columns) - 1) / 40 LOOP
            v_count := v_count + mlops.merge_fill_columns(p_target, p_key_column,
                p_columns[v_slice * 40 + 1:v_slice * 40 + 40], p_loser_ids, p_survivor_ids, p_merge_ids,
                p_from_archive, p_apply);
        END LOOP;
        RETURN v_count;
    END IF;
    -- Only the columns where a survivor is NULL and (while the losers are rows) a loser is not: one probe of the
    -- key's index per survivor and per loser decides, so a batch with nothing to fill costs no plan over the losers.
    EXECUTE format(
        'SELECT ARRAY[%s] FROM %s AS s WHERE %s', mlops.sql_pairs(p_columns,
            'coalesce(bool_or(pg_catalog.num_nulls(s.%1$I) = 1), false)', ', '),
        p_target, mlops.key_match_sql(p_target, 's', '$1')
    ) INTO v_wanted USING p_survivor_ids;
    IF NOT p_from_archive AND true = ANY (v_wanted) THEN
        EXECUTE format(
            'SELECT ARRAY[%s] FROM %s AS l WHERE %s', mlops.sql_pairs(p_columns,
                'coalesce(bool_or(pg_catalog.num_nonnulls(l.%1$I) = 1), false)', ', '),
            p_target, mlops.key_match_sql(p_target, 'l', '$1')
        ) INTO v_offered USING p_loser_ids;
        v_wanted := ARRAY(SELECT u.w AND u.o FROM unnest(v_wanted, v_offered) WITH ORDINALITY AS u (w, o, ord)
            ORDER BY u.ord);
    END IF;
    v_columns := ARRAY(SELECT u.col FROM unnest(p_columns, v_wanted) WITH ORDINALITY AS u (col, f, ord) WHERE u.f
        ORDER BY u.ord);
    IF cardinality(v_columns) = 0 THEN
        RETURN 0;
    ELSIF cardinality(v_columns) < cardinality(p_columns) THEN
        RETURN mlops.merge_fill_columns(p_target, p_key_column, v_columns, p_loser_ids, p_survivor_ids, p_merge_ids,
            p_from_archive, p_apply);
    END IF;
    -- A self reference (staff.boss) is never filled with the survivor itself or a loser of this merge: the survivor
    -- would report to itself, or reference a row about to go away.
    SELECT array_agg(f.referencing_columns[1]) INTO v_self_refs
    FROM mlops.referencing_fks(p_target) AS f
    WHERE f.referencing_table = p_target AND f.referenced_columns = ARRAY[p_key_column]
        AND cardinality(f.referencing_columns) = 1;
    v_source := format(
        'SELECT m.merge_id, m.survivor_id, m.ord, %s'
        ' FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS m (loser_id, survivor_id, merge_id,'
        ' ord) %s',
        (
            SELECT string_agg(
                CASE WHEN c.col = ANY (coalesce(v_self_refs, '{}'))
                    THEN format('CASE WHEN %2$s OR %3$s THEN NULL ELSE %1$s END', c.value,
                        mlops.key_match_sql(p_target, NULL, 'm.survivor_id', false, c.value),
                        mlops.key_match_sql(p_target, NULL, '$1', true, c.value))
                    ELSE c.value END
                || format(' AS "v_%s"', c.ord), ', ' ORDER BY c.ord
            )
            FROM (
                SELECT u.col, u.ord, CASE WHEN p_from_archive THEN mlops.archive_value_sql(p_target, u.col)
                    ELSE format('l.%I', u.col) END AS value
                FROM unnest(p_columns) WITH ORDINALITY AS u (col, ord)
            ) AS c
        ),
        CASE WHEN p_from_archive
            THEN format('INNER JOIN mlops.merge_archive AS a ON a.merge_id = m.merge_id AND a.target = %L::regclass'
                ' AND a.row_key = m.loser_id CROSS JOIN LATERAL jsonb_populate_record(NULL::%s, a.row_data) AS x',
                p_target, p_target)
            ELSE format('INNER JOIN %s AS l ON %s', p_target, mlops.key_match_sql(p_target, 'l', 'm.loser_id', false)) END
    );
    -- plan: per survivor, the position of the first loser with a value of each column (o_i), and whether the
    -- survivor's column is NULL while one has (f_i).
    v_plan := format(
        'src AS MATERIALIZED (%1$s),'
        ' firsts AS (SELECT src.survivor_id, src.merge_id, %2$s FROM src GROUP BY src.survivor_id, src.merge_id),'
        ' plan AS (SELECT f.*, %3$s FROM firsts AS f INNER JOIN %4$s AS s ON %5$s)',
        v_source,
        mlops.sql_pairs(p_columns, 'min(src.ord) FILTER (WHERE pg_catalog.num_nonnulls(src."v_%2$s") = 1) AS "o_%2$s"',
            ', '),
        mlops.sql_pairs(p_columns, '(pg_catalog.num_nulls(s.%1$I) = 1 AND f."o_%2$s" IS NOT NULL) AS "f_%2$s"', ', '),
        p_target,
        mlops.key_match_sql(p_target, 's', 'f.survivor_id', false)
    );

    IF NOT p_apply THEN
        EXECUTE format(
            'WITH %1$s, skipped AS (SELECT p.merge_id, ARRAY(SELECT x.col FROM (VALUES %2$s) AS x (col, f, ord)'
            ' WHERE x.f ORDER BY x.ord) AS cols FROM plan AS p)'
            ' UPDATE mlops.merges AS mg SET fill_skipped = ARRAY(SELECT DISTINCT u.c FROM'
            ' unnest(coalesce(mg.fill_skipped, ''{}'') || k.cols) AS u (c) ORDER BY u.c)'
            ' FROM skipped AS k WHERE mg.merge_id = k.merge_id AND cardinality(k.cols) > 0',
            v_plan,
            mlops.sql_pairs(p_columns, '(%1$L, p."f_%2$s", %2$s)', ', ')
        ) USING p_loser_ids, p_survivor_ids, p_merge_ids;
        GET DIAGNOSTICS v_count = ROW_COUNT;
        IF v_count > 0 THEN
            RAISE NOTICE 'fill_nulls of % left column(s) % NULL in % survivor(s): the losers'' values are unique and '
                'not free (see mlops.merges.fill_skipped)', p_target, array_to_string(p_columns, ', '), v_count;
        END IF;
        RETURN v_count;
    END IF;

    EXECUTE format(
        'WITH %9$s, %1$s,'
        ' updated AS (UPDATE %2$s AS s SET %3$s FROM plan AS p %4$s WHERE %5$s AND (%6$s)'
        '   RETURNING p.merge_id,'
        '   (SELECT jsonb_object_agg(x.col, x.val) FROM (VALUES %7$s) AS x (col, f, val) WHERE x.f) AS filled,'
        '   (SELECT jsonb_object_agg(x.col, x.val) FROM (VALUES %8$s) AS x (col, f, val) WHERE x.f) AS filled_text)'
        ' UPDATE mlops.merges AS mg SET filled = coalesce(mg.filled, ''{}'') || u.filled,'
        ' filled_text = coalesce(mg.filled_text, ''{}'') || u.filled_text'
        ' FROM %10$s AS u WHERE mg.merge_id = u.merge_id',
        v_plan,
        p_target,
        mlops.sql_pairs(p_columns, '%1$I = CASE WHEN p."f_%2$s" THEN "w_%2$s"."v_%2$s" ELSE s.%1$I END', ', '),
        mlops.sql_pairs(p_columns, 'LEFT JOIN src AS "w_%2$s" ON "w_%2$s".ord = p."o_%2$s"', ' '),
        mlops.key_match_sql(p_target, 's', 'p.survivor_id', false),
        mlops.sql_pairs(p_columns, 'p."f_%2$s"', ' OR '),
        mlops.sql_pairs(p_columns, '(%1$L, p."f_%2$s", to_jsonb(s.%1$I))', ', '),
        mlops.sql_pairs(p_columns, '(%1$L, p."f_%2$s", to_jsonb(mlops.archive_text(s.%1$I)))', ', '),
        mlops.caller_search_path_cte_sql(),
        -- a subquery, since the scan's own alias (updated) must not clash with the outer alias u
        format('(SELECT updated.* FROM %s)', mlops.caller_search_path_scan_sql('updated'))
    ) USING p_loser_ids, p_survivor_ids, p_merge_ids;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION mlops.merge_fill_columns(regclass, text, text[], text[], text[], bigint[], boolean, boolean) IS
'Internal, part of a merge: for the given columns, survivors whose value is NULL take the first non-NULL value of '
'their losers in the order given (any type: json, arrays, composites, ...), from the rows or (p_from_archive) their '
'archive copies, recording mlops.merges.filled and filled_text; with p_apply false only records the columns it '
'would have filled in mlops.merges.fill_skipped (with a NOTICE). Returns the number of merges concerned.';

REVOKE EXECUTE ON FUNCTION mlops.merge_fill_columns(
    regclass, text, text[], text[], text[], bigint[], boolean, boolean
) FROM PUBLIC;
