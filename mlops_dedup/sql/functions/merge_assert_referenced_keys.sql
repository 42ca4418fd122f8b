-- mlops.merge_assert_referenced_keys: before anything changes, refuses a merge that would set references to NULL:
-- an FK that references other columns than the key (a nullable UNIQUE key) moves its rows to the survivor's values
-- of those columns, and where any of them is NULL the references would silently stop pointing anywhere. And a
-- survivor's value that the referencing column's type cannot hold (a narrower integer, a domain whose CHECK it
-- fails) is refused here, not met as a raw error in the middle of the merge.

CREATE OR REPLACE FUNCTION mlops.merge_assert_referenced_keys(
    p_target regclass, p_key_column text, p_loser_ids text[], p_survivor_ids text[]
)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_fk record;
    v_pairs text[];
    v_rows bigint;
    v_clusters bigint;
    v_casts text;
    v_state text;
    v_message text;
BEGIN
    FOR v_fk IN
        SELECT f.* FROM mlops.referencing_fks(p_target) AS f
        WHERE f.referenced_columns <> ARRAY[p_key_column]
        ORDER BY f.referencing_table::text, f.fk_name
    LOOP
        -- Rows that reference a loser (every FK column equal to the loser's value: a row with a NULL in them
        -- references nothing, MATCH SIMPLE or FULL) while the survivor has a NULL in the referenced columns.
        EXECUTE format(
            $q$
            SELECT array_agg(format('%%s -> %%s (%%s row(s))', c.loser_id, c.survivor_id, c.n)
                    ORDER BY c.loser_id) FILTER (WHERE c.rank <= 5),
                sum(c.n)::bigint, count(*)
            FROM (
                SELECT v.loser_id, v.survivor_id, count(*) AS n, row_number() OVER (ORDER BY v.loser_id) AS rank
                FROM %1$s AS r INNER JOIN (%2$s) AS v ON %3$s
                WHERE %4$s
                GROUP BY v.loser_id, v.survivor_id
            ) AS c
            $q$,
            v_fk.referencing_table,
            mlops.merge_mapping_sql(p_target, p_key_column, v_fk.referenced_columns),
            mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 'v.l%1$s'),
            mlops.sql_pairs(v_fk.referenced_columns, 'v.s%2$s IS NULL', ' OR ')
        ) INTO v_pairs, v_rows, v_clusters USING p_loser_ids, p_survivor_ids, NULL::bigint[];
        IF v_clusters > 0 THEN
            RAISE EXCEPTION 'cannot merge rows of %: % row(s) of % reference loser(s) through % (%), but the '
                'survivor''s % is NULL', p_target, v_rows, v_fk.referencing_table, v_fk.fk_name,
                array_to_string(v_fk.referencing_columns, ', '), array_to_string(v_fk.referenced_columns, ', ')
                USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = format('Loser -> survivor: %s%s. Re-pointing them would set the references to NULL (they '
                    'would point at nothing). Nothing was changed.', array_to_string(v_pairs, ', '),
                    CASE WHEN v_clusters > 5 THEN format(' and %s more', v_clusters - 5) ELSE '' END),
                HINT = format('Merge the other way (the row that holds the value of %s survives), or give the '
                    'survivor its own value of %s first.', array_to_string(v_fk.referenced_columns, ', '),
                    array_to_string(v_fk.referenced_columns, ', '));
        END IF;
    END LOOP;

    FOR v_fk IN
        SELECT f.* FROM mlops.referencing_fks(p_target) AS f ORDER BY f.referencing_table::text, f.fk_name
    LOOP
        -- Only an FK column of another type than the column it references can refuse a value of it.
        SELECT string_agg(format('v.s%s::%s IS NULL', k.ord, pg_catalog.format_type(fa.atttypid, fa.atttypmod)),
            ' AND ' ORDER BY k.ord)
        INTO v_casts
        FROM pg_catalog.pg_constraint AS c
        CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k (fkey, pkey, ord)
        INNER JOIN pg_catalog.pg_attribute AS fa ON fa.attrelid = c.conrelid AND fa.attnum = k.fkey
        INNER JOIN pg_catalog.pg_attribute AS pa ON pa.attrelid = c.confrelid AND pa.attnum = k.pkey
        WHERE c.conrelid = v_fk.referencing_table AND c.conname = v_fk.fk_name AND c.contype = 'f'
            AND (fa.atttypid <> pa.atttypid OR fa.atttypmod <> pa.atttypmod);
        CONTINUE WHEN v_casts IS NULL;
        BEGIN
            EXECUTE format(
                'SELECT count(*) FROM (SELECT DISTINCT v.* FROM %1$s AS r INNER JOIN (%2$s) AS v ON %3$s) AS v'
                ' WHERE %4$s',
                v_fk.referencing_table,
                mlops.merge_mapping_sql(p_target, p_key_column, v_fk.referenced_columns),
                mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 'v.l%1$s'),
                v_casts
            ) INTO v_rows USING p_loser_ids, p_survivor_ids, NULL::bigint[];
        EXCEPTION
            WHEN data_exception OR integrity_constraint_violation THEN
                GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
                RAISE EXCEPTION 'cannot merge rows of %: % (%) cannot hold a survivor''s value of % (%)', p_target,
                    v_fk.referencing_table, array_to_string(v_fk.referencing_columns, ', '),
                    array_to_string(v_fk.referenced_columns, ', '), v_message
                    USING ERRCODE = v_state,
                    DETAIL = format('Rows referencing a loser through %s would take the survivor''s value. Nothing '
                        'was changed.', v_fk.fk_name),
                    HINT = 'Merge into a survivor whose value the referencing column accepts, or widen that column.';
        END;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.merge_assert_referenced_keys(regclass, text, text[], text[]) IS
'Internal, part of a merge, before anything changes: for each FK that references non-key columns of p_target, '
'refuses (55000, naming the FK, the loser -> survivor pairs (first five and the count) and the rows) when rows '
'reference a loser while the survivor''s value of a referenced column is NULL: re-pointing would null them.';

REVOKE EXECUTE ON FUNCTION mlops.merge_assert_referenced_keys(regclass, text, text[], text[]) FROM PUBLIC;
