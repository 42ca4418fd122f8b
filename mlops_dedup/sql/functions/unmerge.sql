-- mlops.unmerge: undoes one merge exactly, conflict merges inside it included; refuses while another merge
-- depends on it (its survivor was merged away since), naming the merge to undo first, and a caller that may not read
-- and write back every table of the merge (42501) before anything changes.

CREATE OR REPLACE FUNCTION mlops.unmerge(p_merge_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
-- No SET clause: mlops.pin_search_path must see the caller's search_path (see there).
AS $$
DECLARE
    v_caller_search_path text := mlops.pin_search_path();
    v_merge record;
    v_later record;
    v_tree bigint[];
    v_later_id bigint;
    v_touched record;
    v_root bigint;
    v_lacking text;
BEGIN
    IF p_merge_id IS NULL THEN
        RAISE EXCEPTION 'merge id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT m.* INTO v_merge FROM mlops.merges AS m WHERE m.merge_id = p_merge_id FOR UPDATE;
    IF v_merge.merge_id IS NULL THEN
        RAISE EXCEPTION 'merge % does not exist', p_merge_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_merge.undone_at IS NOT NULL THEN
        RAISE EXCEPTION 'merge % was already undone at %', p_merge_id, v_merge.undone_at
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF v_merge.parent_merge_id IS NOT NULL THEN
        RAISE EXCEPTION 'merge % is a conflict merge inside merge %', p_merge_id, v_merge.parent_merge_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Undo merge %s; it undoes this one too.', v_merge.parent_merge_id);
    END IF;

    -- The caller must read and write back every table of the merge's tree: row-level security on the archive hides
    -- the rows of tables it may not read, and an undo that cannot see them would silently restore only part.
    WITH RECURSIVE tree AS (
        SELECT m.merge_id, m.target, m.soft_deleted FROM mlops.merges AS m WHERE m.merge_id = p_merge_id
        UNION ALL
        SELECT c.merge_id, c.target, c.soft_deleted
        FROM mlops.merges AS c INNER JOIN tree AS t ON c.parent_merge_id = t.merge_id
    ),
    needs (tbl, priv) AS (
        -- merged tables: losers re-inserted (or revived), survivor locked and its filled fields cleared
        SELECT t.target, n.priv
        FROM tree AS t
        CROSS JOIN unnest(CASE WHEN t.soft_deleted THEN ARRAY['SELECT', 'UPDATE']
            ELSE ARRAY['SELECT', 'INSERT', 'UPDATE'] END) AS n (priv)
        UNION
        -- tables whose references the merges moved: pointed back
        SELECT mv.referencing_table, n.priv
        FROM mlops.merge_moves AS mv
        INNER JOIN tree AS t ON mv.merge_id = t.merge_id
        CROSS JOIN unnest(ARRAY['SELECT', 'UPDATE']) AS n (priv)
        UNION
        -- referencing tables without a single-column primary key, whose colliding rows a merge archived: read
        -- back ...
        SELECT f.referencing_table, 'SELECT'
        FROM (SELECT DISTINCT t.target FROM tree AS t) AS t
        CROSS JOIN LATERAL mlops.target_references(t.target) AS f
        WHERE mlops.key_column(f.referencing_table) IS NULL
        UNION
        -- ... and re-inserted (into the inheritance child a row lived in)
        SELECT coalesce(a.source_table, a.target), 'INSERT'
        FROM mlops.merge_archive AS a
        INNER JOIN tree AS t ON a.merge_id = t.merge_id
    ),
    lacking AS (
        SELECT n.tbl, string_agg(n.priv, ', ' ORDER BY array_position(ARRAY['SELECT', 'INSERT', 'UPDATE'], n.priv))
            AS privs
        FROM needs AS n
        WHERE NOT has_table_privilege(n.tbl, n.priv)
        GROUP BY n.tbl
    )
    SELECT string_agg(format('%s on %s', l.privs, l.tbl), '; ' ORDER BY l.tbl::text) INTO v_lacking FROM lacking AS l;
    IF v_lacking IS NOT NULL THEN
        RAISE EXCEPTION 'cannot undo merge %: role % lacks %', p_merge_id, current_user, v_lacking
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Undo reads and writes back every table of the merge: its table, those of its conflict merges '
                'and those whose references it moved. mlops.merge_archive shows a role only rows of tables it may '
                'read, so without these privileges the undo would be incomplete. Nothing was changed.',
            HINT = 'Undo it as a role that holds them (e.g. the table owner), or have them granted.';
    END IF;

    -- Undo acts with the caller's rights on what the log says: every log row of the tree must have been written by
    -- a role that has those rights already (the log's writers cannot choose merged_by / recorded_by), so that a
    -- less privileged role's forged loser, archived row or move is never acted on by a more privileged one.
    WITH RECURSIVE tree AS (
        SELECT m.merge_id, m.merged_by FROM mlops.merges AS m WHERE m.merge_id = p_merge_id
        UNION ALL
        SELECT c.merge_id, c.merged_by FROM mlops.merges AS c INNER JOIN tree AS t ON c.parent_merge_id = t.merge_id
    ),
    writers AS (
        SELECT t.merged_by AS who FROM tree AS t
        UNION
        SELECT a.recorded_by FROM mlops.merge_archive AS a INNER JOIN tree AS t ON a.merge_id = t.merge_id
        UNION
        SELECT mv.recorded_by FROM mlops.merge_moves AS mv INNER JOIN tree AS t ON mv.merge_id = t.merge_id
    )
    SELECT string_agg(quote_ident(w.who), ', ' ORDER BY w.who) INTO v_lacking
    FROM writers AS w
    WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS r WHERE r.rolname = w.who)
        OR NOT pg_catalog.pg_has_role(w.who, current_user, 'USAGE');
    IF v_lacking IS NOT NULL THEN
        RAISE EXCEPTION 'cannot undo merge % as %: its log was written by % without the rights of %', p_merge_id,
            current_user, v_lacking, current_user
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'Undo re-inserts and re-points what the log records, with the undoing role''s rights; it acts '
                'only on log rows written by roles that have those rights already. Nothing was changed.',
            HINT = format('Undo it as %s (SET ROLE), who recorded it.', v_lacking);
    END IF;

    -- Other merges (outside this one's tree, not undone) that merged away a survivor of this tree: the references
    -- to move back now point elsewhere. (A moved row merged away since is fine: its archived copy is corrected.)
    -- Both logs name the survivor by the text of its row (mlops.key_texts), so its text finds it (mlops.merge_losers,
    -- one btree probe per survivor) ...
    WITH RECURSIVE tree AS (
        SELECT m.merge_id FROM mlops.merges AS m WHERE m.merge_id = p_merge_id
        UNION ALL
        SELECT c.merge_id FROM mlops.merges AS c INNER JOIN tree AS t ON c.parent_merge_id = t.merge_id
    )
    SELECT array_agg(t.merge_id) INTO v_tree FROM tree AS t;
    SELECT later.* INTO v_later
    FROM mlops.merges AS x
    INNER JOIN mlops.merge_losers AS l ON l.target = x.target AND l.loser_key = x.survivor_key
    INNER JOIN mlops.merges AS later
        ON later.merge_id = l.merge_id AND later.target = l.target AND l.loser_key = ANY (later.loser_keys)
    WHERE x.merge_id = ANY (v_tree)
        AND later.undone_at IS NULL
        AND NOT later.merge_id = ANY (v_tree)
    ORDER BY later.parent_merge_id IS NULL DESC, later.merge_id DESC
    LIMIT 1;
    -- ... except where equal keys can print differently (a timestamptz logged under another TimeZone, a citext
    -- key updated in case since): there the keys are compared as values, table by table.
    FOR v_touched IN
        SELECT m.target, array_agg(m.survivor_key) AS keys
        FROM mlops.merges AS m
        WHERE m.merge_id = ANY (v_tree) AND mlops.key_column(m.target) IS NOT NULL
        GROUP BY m.target
    LOOP
        EXIT WHEN v_later.merge_id IS NOT NULL;
        CONTINUE WHEN mlops.key_text_is_canonical(v_touched.target);
        EXECUTE format(
            'SELECT later.merge_id FROM mlops.merges AS later WHERE later.target = $1 AND later.undone_at IS NULL'
            ' AND NOT later.merge_id = ANY ($3) AND %s'
            ' ORDER BY later.parent_merge_id IS NULL DESC, later.merge_id DESC LIMIT 1',
            mlops.loser_keys_match_sql(v_touched.target, 'later', '$2')
        ) INTO v_later_id USING v_touched.target, v_touched.keys, v_tree;
        SELECT m.* INTO v_later FROM mlops.merges AS m WHERE m.merge_id = v_later_id;
    END LOOP;
    IF v_later.merge_id IS NOT NULL THEN
        -- Name the top-level merge: that is the one a person can undo.
        WITH RECURSIVE up AS (
            SELECT m.merge_id, m.parent_merge_id FROM mlops.merges AS m WHERE m.merge_id = v_later.merge_id
            UNION ALL
            SELECT m.merge_id, m.parent_merge_id FROM mlops.merges AS m INNER JOIN up ON m.merge_id = up.parent_merge_id
        )
        SELECT up.merge_id INTO v_root FROM up WHERE up.parent_merge_id IS NULL;
        RAISE EXCEPTION 'cannot undo merge %: merge % merged row(s) % of % into % since',
            p_merge_id,
            v_root || CASE WHEN v_root <> v_later.merge_id
                THEN format(' (in its conflict merge %s)', v_later.merge_id) ELSE '' END,
            mlops.format_ids(v_later.loser_keys), v_later.target, v_later.survivor_key
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Undo merge %s first.', v_root);
    END IF;

    PERFORM mlops.unmerge_apply(p_merge_id);
    -- A pair a reviewer merged and this undoes goes back to the queue: the merge is taken back, and a decision
    -- taken back is no learned rule's label.
    UPDATE mlops.duplicate_candidates AS c SET status = 'pending', decided_at = NULL
    WHERE c.target = v_merge.target AND c.status = 'merged'
        AND c.left_key = ANY (v_merge.loser_keys || v_merge.survivor_key)
        AND c.right_key = ANY (v_merge.loser_keys || v_merge.survivor_key);
    PERFORM pg_catalog.set_config('search_path', v_caller_search_path, true);
END;
$$;

COMMENT ON FUNCTION mlops.unmerge(bigint) IS
'Undoes a merge: losers restored with their keys, of any key type (or revived from soft delete), filled survivor '
'fields cleared, moved references pointed back, conflict merges inside it undone, a review-queue pair it merged '
'pending again. Refuses conflict merges (undo their parent), merges a later merge depends on, and a table that lost '
'its single-column primary key since (55000), and a caller lacking SELECT, INSERT or UPDATE on a table of the '
'merge''s tree (42501: the archive hides rows of tables a role may not read), or a log row of the tree written or '
'edited by a role without the caller''s rights (42501: merged_by, recorded_by), before anything changes.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge(bigint) FROM PUBLIC;
