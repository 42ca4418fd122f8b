-- mlops.merge_clusters: the set-based merge core. Merges a whole loser -> survivor mapping of one table in the
-- caller's transaction: lock, resolve collisions, one UPDATE per referencing FK, fill, check that nothing still
-- references a loser, then archive and delete the losers (or soft-delete them). Every step is logged for undo.

CREATE OR REPLACE FUNCTION mlops.merge_clusters(
    p_target regclass,
    p_survivor_ids anycompatiblearray,
    p_loser_ids anycompatiblearray,
    p_reason text DEFAULT 'manual',
    p_scores real[] DEFAULT NULL,
    p_parent_merge_ids bigint[] DEFAULT NULL,
    p_soft_delete boolean DEFAULT FALSE,
    p_fill_nulls boolean DEFAULT FALSE,
    OUT merge_ids bigint[],
    OUT merged_rows bigint,
    OUT moved_references bigint,
    OUT conflict_rows bigint
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
-- No SET clause: mlops.pin_search_path must see the caller's search_path (see there).
AS $$
DECLARE
    v_caller_search_path text := mlops.pin_search_path();
    -- No JIT for the merge's statements: they touch a batch's rows, but their estimates (joins of arrays, CTEs and
    -- jsonb functions without statistics) pass jit_above_cost, and compiling cost seconds where running took
    -- milliseconds (the fill's UPDATE at 5,000 survivors: 6.3 s of JIT for 0.15 s of work). Restored at the end,
    -- like the search_path; an error rolls both back with the (sub)transaction.
    v_caller_jit text := pg_catalog.current_setting('jit');
    v_key text;
    v_fk record;
    v_pair_merge_ids bigint[];
    v_left bigint;
    v_deleted text[];
    v_count bigint;
    v_survivors text[];
    v_losers text[];
    v_key_type text;
    v_key_text text;
    v_integer_key boolean;
BEGIN
    PERFORM pg_catalog.set_config('jit', 'off', true);
    PERFORM mlops.assert_table(p_target);
    PERFORM mlops.assert_not_package_relation(p_target);
    PERFORM mlops.key_refusal(p_target, true);
    v_key := mlops.key_column(p_target);
    v_key_type := mlops.key_type_sql(p_target);
    v_key_text := mlops.key_text_sql(p_target, format('t.%I', v_key));
    v_integer_key := mlops.key_is_integer(p_target);
    -- keys as the canonical text the package works with and logs, in the order given
    v_survivors := mlops.key_texts(p_target, p_survivor_ids);
    v_losers := mlops.key_texts(p_target, p_loser_ids);
    IF p_reason IS NULL THEN
        RAISE EXCEPTION 'merge reason must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM mlops.merge_assert_allowed(p_target);
    FOR v_fk IN SELECT DISTINCT f.referencing_table FROM mlops.target_references(p_target) AS f LOOP
        PERFORM mlops.merge_assert_allowed(v_fk.referencing_table);
    END LOOP;
    IF p_soft_delete AND NOT mlops.has_soft_delete_columns(p_target) THEN
        RAISE EXCEPTION 'cannot soft-delete merged rows of %: it has no deleted_at and merged_into columns', p_target
            USING ERRCODE = 'undefined_column',
            HINT = format('SELECT mlops.add_soft_delete_columns(%L) adds them; or merge with soft delete off (rows '
                'archived).', p_target::text);
    END IF;

    PERFORM mlops.merge_lock_rows(p_target, v_key, v_survivors, v_losers);
    -- A survivor in an inheritance child cannot be referenced: PostgreSQL's FKs to the parent see only its own rows.
    IF EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhparent = p_target)
        AND (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = p_target) = 'r'
        AND EXISTS (SELECT FROM mlops.referencing_fks(p_target)) THEN
        EXECUTE format(
            'SELECT array_agg(%4$s ORDER BY t.%1$I) FROM %2$s AS t WHERE %5$s AND t.tableoid <> %3$s',
            v_key, p_target, p_target::oid, v_key_text, mlops.key_match_sql(p_target, 't', '$1')
        ) INTO v_deleted USING v_survivors;
        IF v_deleted IS NOT NULL THEN
            RAISE EXCEPTION 'cannot merge into rows % of %: they live in an inheritance child of it',
                mlops.format_ids(v_deleted), p_target
                USING ERRCODE = 'feature_not_supported',
                DETAIL = format('Foreign keys referencing %s see only the rows of %s itself, so nothing could be '
                    're-pointed to these survivors. Nothing was changed.', p_target, p_target),
                HINT = 'Pick a survivor that lives in the table itself (its losers may live in children).';
        END IF;
    END IF;
    -- A loser the application deleted already (deleted_at set) would lose that date to a soft delete, and come back
    -- live on undo. (With soft delete off it is archived whole, deleted_at included, and undo restores it so.)
    IF p_soft_delete THEN
        EXECUTE format(
            'SELECT array_agg(%3$s ORDER BY t.%1$I) FROM %2$s AS t WHERE %4$s AND t.deleted_at IS NOT NULL',
            v_key, p_target, v_key_text, mlops.key_match_sql(p_target, 't', '$1')
        ) INTO v_deleted USING v_losers;
        IF v_deleted IS NOT NULL THEN
            RAISE EXCEPTION 'cannot soft-delete rows % of %: they are deleted already (deleted_at is set)',
                mlops.format_ids(v_deleted), p_target
                USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = 'Soft delete would overwrite their deleted_at, and undoing the merge would make them live.',
                HINT = 'Merge them with soft delete off (archived whole, deleted_at kept), or leave them out.';
        END IF;
        -- A survivor the application deleted already would take live losers' references into a deleted row.
        EXECUTE format(
            'SELECT array_agg(%3$s ORDER BY t.%1$I) FROM %2$s AS t WHERE %4$s AND t.deleted_at IS NOT NULL',
            v_key, p_target, v_key_text, mlops.key_match_sql(p_target, 't', '$1')
        ) INTO v_deleted USING v_survivors;
        IF v_deleted IS NOT NULL THEN
            RAISE EXCEPTION 'cannot merge into rows % of %: they are deleted already (deleted_at is set)',
                mlops.format_ids(v_deleted), p_target
                USING ERRCODE = 'object_not_in_prerequisite_state',
                DETAIL = 'Their losers would be marked deleted too and their references moved into a deleted row.',
                HINT = 'Pick a live survivor, or restore the row (deleted_at NULL) first.';
        END IF;
    END IF;
    -- Case of an FK to a nullable unique key: references are never re-pointed to a NULL.
    PERFORM mlops.merge_assert_referenced_keys(p_target, v_key, v_losers, v_survivors);

    -- One merge row per survivor; v_pair_merge_ids[i] is the merge of loser i.
    WITH inserted AS (
        INSERT INTO mlops.merges (
            parent_merge_id, target, key_type, survivor_key, loser_keys, survivor_id, loser_ids, reason, score,
            soft_deleted, fill_nulls
        )
        SELECT min(p.parent), p_target, v_key_type::regtype, p.survivor, array_agg(p.loser ORDER BY p.ord),
            CASE WHEN v_integer_key THEN p.survivor::bigint END,
            -- the cast inside the aggregate too: an aggregate is computed before the CASE around it is decided
            CASE WHEN v_integer_key THEN array_agg(CASE WHEN v_integer_key THEN p.loser::bigint END ORDER BY p.ord) END,
            p_reason, min(p.score), p_soft_delete, p_fill_nulls
        FROM unnest(v_survivors, v_losers, p_scores, p_parent_merge_ids)
            WITH ORDINALITY AS p (survivor, loser, score, parent, ord)
        GROUP BY p.survivor
        RETURNING mlops.merges.merge_id AS new_merge_id, mlops.merges.survivor_key AS new_survivor_key
    ),
    per_pair AS (
        SELECT array_agg(i.new_merge_id ORDER BY p.ord) AS ids
        FROM unnest(v_survivors) WITH ORDINALITY AS p (survivor, ord)
        INNER JOIN inserted AS i ON i.new_survivor_key = p.survivor
    )
    SELECT
        (SELECT per_pair.ids FROM per_pair),
        (SELECT array_agg(i.new_merge_id ORDER BY i.new_merge_id) FROM inserted AS i)
    INTO v_pair_merge_ids, merge_ids;

    merged_rows := cardinality(v_losers);
    moved_references := 0;
    conflict_rows := 0;
    -- CHECK / exclusion / partition constraints planned before anything moves; self links removed as collisions
    conflict_rows := conflict_rows + mlops.merge_plan_constraints(
        p_target, v_key, v_losers, v_survivors, v_pair_merge_ids
    );
    FOR v_fk IN SELECT f.* FROM mlops.target_references(p_target) AS f LOOP
        conflict_rows := conflict_rows + mlops.merge_resolve_collisions(
            p_target, v_key, v_fk.referencing_table, v_fk.fk_name, v_fk.referencing_columns,
            v_fk.referenced_columns, v_losers, v_survivors, v_pair_merge_ids
        );
        moved_references := moved_references + mlops.merge_repoint(
            p_target, v_key, v_fk.referencing_table, v_fk.fk_name, v_fk.referencing_columns,
            v_fk.referenced_columns, v_losers, v_survivors, v_pair_merge_ids
        );
    END LOOP;

    IF p_fill_nulls THEN
        PERFORM mlops.merge_fill_nulls(p_target, v_key, v_losers, v_survivors, v_pair_merge_ids);
        IF p_soft_delete THEN
            -- the losers keep their unique values: those columns are skipped and reported
            PERFORM mlops.merge_fill_unique(p_target, v_key, v_losers, v_survivors, v_pair_merge_ids, true);
        END IF;
    END IF;

    -- Delete gate: nothing may reference a loser any more (a concurrent insert waits on the loser's row lock).
    FOR v_fk IN SELECT f.* FROM mlops.target_references(p_target) AS f LOOP
        EXECUTE format(
            'SELECT count(*) FROM %s AS r INNER JOIN (%s) AS v ON %s%s',
            v_fk.referencing_table,
            mlops.merge_mapping_sql(p_target, v_key, v_fk.referenced_columns),
            mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 'v.l%1$s'),
            mlops.merge_self_exclusion_sql(p_target, v_fk.referencing_table, false)
            || mlops.merge_merged_rows_stay_sql(v_fk.referencing_table, v_pair_merge_ids)
        ) INTO v_left USING v_losers, v_survivors, v_pair_merge_ids;
        IF v_left > 0 THEN
            RAISE EXCEPTION 'merge of % stopped: % row(s) of % still reference a loser through %',
                p_target, v_left, v_fk.referencing_table, v_fk.fk_name
                USING ERRCODE = 'object_in_use',
                DETAIL = 'Nothing was deleted; the whole merge is rolled back.';
        END IF;
    END LOOP;

    IF p_soft_delete THEN
        EXECUTE format(
            'WITH %3$s, marked AS (UPDATE %1$s AS t SET deleted_at = now(), merged_into = (m.survivor_id)::%5$s'
            ' FROM unnest($1::text[], $2::text[]) AS m (loser_id, survivor_id) WHERE %2$s'
            ' RETURNING 1) SELECT count(*) FROM %4$s',
            p_target, mlops.key_match_sql(p_target, 't', 'm.loser_id', false), mlops.caller_search_path_cte_sql(),
            mlops.caller_search_path_scan_sql('marked'), v_key_type
        ) INTO v_count USING v_losers, v_survivors;
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    ELSE
        -- Archive and delete in one statement per relation: a row leaves the table only together with its exact
        -- archive copy (inheritance children: from the child, with its own columns).
        v_count := mlops.merge_archive_losers(p_target, v_losers, v_pair_merge_ids);
    END IF;
    -- A BEFORE trigger that returns NULL (or a rule) skips a row without an error: every loser the log names as
    -- merged must really be gone (or marked), else the merge would report what did not happen.
    IF v_count <> cardinality(v_losers) THEN
        EXECUTE format(
            'SELECT array_agg(%4$s ORDER BY t.%1$I) FROM %2$s AS t WHERE %5$s%3$s',
            v_key, p_target, CASE WHEN p_soft_delete THEN ' AND t.merged_into IS NULL' ELSE '' END, v_key_text,
            mlops.key_match_sql(p_target, 't', '$1')
        ) INTO v_deleted USING v_losers;
        RAISE EXCEPTION 'merge of % % only % of % losers: a trigger or rule on % skipped the others (%)', p_target,
            CASE WHEN p_soft_delete THEN 'marked' ELSE 'deleted' END, v_count, cardinality(v_losers), p_target,
            'ids ' || mlops.format_ids(v_deleted)
            USING ERRCODE = 'triggered_action_exception',
            DETAIL = 'Nothing was merged; the whole merge is rolled back.',
            HINT = 'Disable or adapt the BEFORE DELETE / BEFORE UPDATE trigger (or rule) for the merge, or merge '
                'with the other delete mode (p_soft_delete).';
    END IF;
    IF p_fill_nulls AND NOT p_soft_delete THEN
        -- unique columns: the losers' values are free now; taken from their archive copies
        PERFORM mlops.merge_fill_unique(p_target, v_key, v_losers, v_survivors, v_pair_merge_ids, false);
    END IF;
    PERFORM pg_catalog.set_config('jit', v_caller_jit, true);
    PERFORM pg_catalog.set_config('search_path', v_caller_search_path, true);
END;
$$;

COMMENT ON FUNCTION mlops.merge_clusters(
    regclass, anycompatiblearray, anycompatiblearray, text, real[], bigint[], boolean, boolean
) IS
'Set-based merge core: merges each loser into the survivor at the same position of the arrays, for many clusters '
'of one table at once, inside the caller''s transaction. Keys: arrays of the table''s key type or of one it can be '
'cast from (text[] for uuid keys, integers for integer keys); a table without a single-column primary key 0A000, a '
'key the type cannot read the cast''s SQLSTATE (22P02, 42846). Returns the merge ids (one per survivor), rows merged, '
'references moved and colliding referencing rows merged or archived (recursively). Refuses the package''s own '
'tables (22023), soft-deleting losers or merging into survivors deleted already (55000), references that would be '
'set to NULL (55000: FK to a nullable unique key), and rolls back when a trigger or rule skipped a loser (09000).';

REVOKE EXECUTE ON FUNCTION mlops.merge_clusters(
    regclass, anycompatiblearray, anycompatiblearray, text, real[], bigint[], boolean, boolean
) FROM PUBLIC;
