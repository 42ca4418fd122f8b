-- mlops.unmerge_apply: the undo steps of one merge and, recursively, of its conflict merges, in the reverse order
-- of the merge: fill cleared, losers back, references back, archived conflict rows back, child merges undone.

CREATE OR REPLACE FUNCTION mlops.unmerge_apply(p_merge_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_merge record;
    v_key text;
    v_count bigint;
    v_table record;
    v_fk record;
    v_child bigint;
    v_detail text;
    v_constraint text;
BEGIN
    SELECT m.* INTO STRICT v_merge FROM mlops.merges AS m WHERE m.merge_id = p_merge_id;
    v_key := mlops.key_column(v_merge.target);
    IF v_key IS NULL THEN
        RAISE EXCEPTION 'cannot undo merge %: % no longer has a single-column primary key (%)', p_merge_id,
            v_merge.target, mlops.key_refusal(v_merge.target)
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = format('The merge named its rows by their %s keys. Nothing was changed.', v_merge.key_type),
            HINT = 'Give the table its single-column primary key back, then undo.';
    END IF;
    PERFORM mlops.merge_assert_allowed(v_merge.target);
    -- Keys are the log's texts, read back as the key type and compared with the key's own equality.
    EXECUTE format('SELECT 1 FROM %s AS t WHERE %s FOR NO KEY UPDATE', v_merge.target,
        mlops.key_match_sql(v_merge.target, 't', '$1', false))
    USING v_merge.survivor_key;

    -- 1. Survivor columns filled by the merge go back to NULL, unless they were changed since: compared as the
    -- exact text the merge recorded (json has no equality; its to_jsonb form forgets whitespace and key order).
    -- First, so that a unique value the survivor took from a loser is free when the loser comes back.
    IF v_merge.filled IS NOT NULL OR v_merge.filled_text IS NOT NULL THEN
        -- A filled key that rows written since reference cannot go back to NULL: ON UPDATE SET NULL or CASCADE
        -- would null those references, NO ACTION would fail. Refused, naming them.
        FOR v_fk IN
            SELECT f.* FROM mlops.referencing_fks(v_merge.target) AS f
            WHERE f.referenced_columns && ARRAY(
                SELECT jsonb_object_keys(coalesce(v_merge.filled, '{}') || coalesce(v_merge.filled_text, '{}'))
            )
        LOOP
            EXECUTE format('SELECT count(*) FROM %s AS r INNER JOIN %s AS s ON %s AND %s',
                v_fk.referencing_table, v_merge.target, mlops.key_match_sql(v_merge.target, 's', '$1', false),
                mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 's.%2$I')
            ) INTO v_count USING v_merge.survivor_key;
            IF v_count > 0 THEN
                RAISE EXCEPTION 'cannot undo merge %: % row(s) of % reference the survivor''s % through %, which the '
                    'merge filled and undo would set back to NULL', p_merge_id, v_count, v_fk.referencing_table,
                    array_to_string(v_fk.referenced_columns, ', '), v_fk.fk_name
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = 'Their references would be set to NULL (or the undo fail). Nothing was changed.',
                    HINT = 'Point those rows elsewhere (or delete them) first, then undo.';
            END IF;
        END LOOP;
        EXECUTE format(
            'WITH %4$s, cleared AS (UPDATE %1$s AS t SET %2$s WHERE %3$s RETURNING 1)'
            ' SELECT count(*) FROM %5$s',
            v_merge.target,
            (
                SELECT string_agg(
                    CASE WHEN v_merge.filled_text ? k.col
                        THEN format(
                            '%1$I = CASE WHEN mlops.archive_text(t.%1$I) = $3 ->> %1$L THEN NULL ELSE t.%1$I END',
                            k.col
                        )
                        ELSE format('%1$I = CASE WHEN to_jsonb(t.%1$I) = $1 -> %1$L THEN NULL ELSE t.%1$I END', k.col)
                    END, ', ' ORDER BY k.col)
                FROM (
                    SELECT jsonb_object_keys(coalesce(v_merge.filled, '{}') || coalesce(v_merge.filled_text, '{}'))
                ) AS k (col)
            ),
            mlops.key_match_sql(v_merge.target, 't', '$2', false),
            mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('cleared')
        ) USING v_merge.filled, v_merge.survivor_key, v_merge.filled_text;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    END IF;

    -- 2. The losers, with their original keys.
    IF v_merge.soft_deleted THEN
        -- merged_into (the key's type, or a wider integer) still names the survivor, by the key's own equality
        EXECUTE format(
            'WITH %4$s, revived AS (UPDATE %1$s AS t SET deleted_at = NULL, merged_into = NULL'
            ' WHERE %2$s AND EXISTS (SELECT FROM (SELECT t.merged_into AS %6$I) AS mi WHERE %3$s)'
            ' RETURNING 1) SELECT count(*) FROM %5$s',
            v_merge.target, mlops.key_match_sql(v_merge.target, 't', '$1'),
            mlops.key_match_sql(v_merge.target, 'mi', '$2', false),
            mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('revived'), v_key
        ) INTO v_count USING v_merge.loser_keys, v_merge.survivor_key;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    ELSE
        v_count := mlops.restore_archived_rows(p_merge_id, v_merge.target);
    END IF;
    IF v_count <> cardinality(v_merge.loser_keys) THEN
        RAISE EXCEPTION 'cannot undo merge %: % of % merged row(s) of % could be restored',
            p_merge_id, v_count, cardinality(v_merge.loser_keys), v_merge.target
            USING ERRCODE = 'object_not_in_prerequisite_state',
            DETAIL = 'A soft-deleted loser was changed since the merge.';
    END IF;

    -- 3. Moved references point at their loser again, if they still point at the survivor.
    FOR v_table IN
        SELECT mv.referencing_table, mv.fk_name, count(*) AS moved
        FROM mlops.merge_moves AS mv
        WHERE mv.merge_id = p_merge_id
        GROUP BY mv.referencing_table, mv.fk_name
    LOOP
        -- an FK, or a reference declared in mlops.declared_references (its name starts with declared:)
        SELECT f.* INTO v_fk
        FROM mlops.target_references(v_merge.target) AS f
        WHERE f.referencing_table = v_table.referencing_table AND f.fk_name = v_table.fk_name;
        IF v_fk.fk_name IS NULL THEN
            RAISE EXCEPTION 'cannot undo merge %: % % of % no longer exists', p_merge_id,
                CASE WHEN v_table.fk_name LIKE 'declared:%' THEN 'declared reference' ELSE 'foreign key' END,
                v_table.fk_name, v_table.referencing_table
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- Pair logged rows with rows that still point at the survivor by key (and, for identical rows of a
        -- table without a key, by count), then point each back at its loser: at its values of the referenced
        -- columns (lk.k1, ...), written as the reference's columns hold them (a declared reference's text column,
        -- a key inside a json document: mlops.reference_set_sql).
        BEGIN
            EXECUTE format(
                $q$
                WITH %8$s, wanted AS (
                    SELECT mv.row_key, mv.loser_key, mv.moved_from,
                        row_number() OVER (PARTITION BY mv.row_key ORDER BY mv.loser_key) AS n
                    FROM mlops.merge_moves AS mv
                    WHERE mv.merge_id = $1 AND mv.referencing_table = %1$L::regclass AND mv.fk_name = %2$L
                        AND mv.moved_to IS NULL
                ),
                present AS (
                    SELECT r.tableoid AS toid, r.ctid AS tid, %3$s AS row_key,
                        row_number() OVER (PARTITION BY %3$s) AS n
                    FROM %1$s AS r INNER JOIN %4$s AS s ON %5$s AND %6$s
                ),
                moved_back AS (
                    UPDATE %1$s AS r SET %7$s
                    FROM present AS p
                    INNER JOIN wanted AS w ON w.row_key = p.row_key AND w.n = p.n
                    INNER JOIN %4$s AS l ON %10$s
                    CROSS JOIN LATERAL (SELECT %11$s) AS lk
                    WHERE r.tableoid = p.toid AND r.ctid = p.tid
                    RETURNING 1
                )
                SELECT count(*) FROM %9$s
                $q$,
                v_table.referencing_table,
                v_table.fk_name,
                mlops.row_key_sql(v_table.referencing_table),
                v_merge.target,
                mlops.key_match_sql(v_merge.target, 's', '$2', false),
                mlops.fk_match_sql(v_table.referencing_table, v_table.fk_name, 'r', 's.%2$I'),
                mlops.reference_set_sql(v_table.referencing_table, v_table.fk_name, v_fk.referencing_columns,
                    'lk.k%2$s', 'w.moved_from'),
                mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('moved_back'),
                mlops.key_match_sql(v_merge.target, 'l', 'w.loser_key', false),
                mlops.sql_pairs(v_fk.referenced_columns, 'l.%1$I AS k%2$s', ', ')
            ) INTO v_count USING p_merge_id, v_merge.survivor_key;
        EXCEPTION
            WHEN unique_violation OR exclusion_violation OR check_violation THEN
                -- a row written since the merge holds what a moved row would take back (its old key values)
                GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_constraint = CONSTRAINT_NAME;
                RAISE EXCEPTION 'cannot undo merge %: rows of % moved by the merge cannot point back at their loser: '
                    'constraint % of a row written since', p_merge_id, v_table.referencing_table, v_constraint
                    USING ERRCODE = 'object_not_in_prerequisite_state',
                    DETAIL = coalesce(v_detail || ' ', '') || 'Nothing was changed.',
                    HINT = 'Change or merge the row written since the merge first, then undo.';
        END;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
        -- rows moved elsewhere than the survivor (a survivor that took its loser's own reference)
        v_count := v_count + mlops.unmerge_redirected_moves(p_merge_id, v_merge.target,
            v_table.referencing_table, v_table.fk_name, v_fk.referencing_columns, v_fk.referenced_columns);
        IF v_count < v_table.moved THEN
            -- Moved rows merged away since by another merge live in its archive: correct the archived copy, so
            -- whichever merge is undone last restores the row as it was.
            v_count := v_count + mlops.unmerge_archived_moves(
                p_merge_id, v_merge.target, v_merge.survivor_key, v_table.referencing_table, v_table.fk_name,
                v_fk.referencing_columns, v_fk.referenced_columns
            );
        END IF;
        IF v_count < v_table.moved THEN
            RAISE NOTICE 'undo of merge %: % of % row(s) of % moved through % were changed or deleted since '
                'and stay as they are', p_merge_id, v_table.moved - v_count, v_table.moved,
                v_table.referencing_table, v_table.fk_name;
        END IF;
    END LOOP;

    -- 3b. Twins whose values a combine policy changed get their old values back.
    PERFORM mlops.unmerge_combined(p_merge_id);

    -- 4. Colliding rows of tables without a single-column primary key, and self-link rows, archived by this merge:
    -- every one back (a BEFORE INSERT trigger returning NULL would drop one silently, and the merge would count as
    -- undone).
    FOR v_table IN
        SELECT a.target, count(*) AS archived FROM mlops.merge_archive AS a
        WHERE a.merge_id = p_merge_id AND a.target <> v_merge.target
        GROUP BY a.target
    LOOP
        v_count := mlops.restore_archived_rows(p_merge_id, v_table.target);
        IF v_count <> v_table.archived THEN
            RAISE EXCEPTION 'cannot undo merge %: % of % archived row(s) of % could be restored; a trigger or rule '
                'on % skipped the others', p_merge_id, v_count, v_table.archived, v_table.target, v_table.target
                USING ERRCODE = 'triggered_action_exception',
                DETAIL = 'Nothing was undone; the whole undo is rolled back.',
                HINT = 'Disable or adapt the BEFORE INSERT trigger for the undo.';
        END IF;
    END LOOP;

    -- 5. Conflict merges made inside this one, newest first.
    FOR v_child IN
        SELECT c.merge_id FROM mlops.merges AS c
        WHERE c.parent_merge_id = p_merge_id AND c.undone_at IS NULL
        ORDER BY c.merge_id DESC
    LOOP
        PERFORM mlops.unmerge_apply(v_child);
    END LOOP;

    UPDATE mlops.merges SET undone_at = now(), undone_by = current_user WHERE mlops.merges.merge_id = p_merge_id;
END;
$$;

COMMENT ON FUNCTION mlops.unmerge_apply(bigint) IS
'Internal: applies the undo of one merge and its conflict merges without the dependency checks of mlops.unmerge.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge_apply(bigint) FROM PUBLIC;
