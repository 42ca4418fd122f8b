-- mlops.unmerge: undoes one merge exactly, conflict merges inside it included; refuses while a later merge
-- depends on it (its survivor, or a row it moved, was merged away since), naming the merge to undo first.

CREATE OR REPLACE FUNCTION mlops.unmerge(p_merge_id bigint)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_merge record;
    v_later record;
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

    -- Later merges (outside this one's tree) that merged away this survivor or a row this merge moved.
    WITH RECURSIVE tree AS (
        SELECT m.merge_id FROM mlops.merges AS m WHERE m.merge_id = p_merge_id
        UNION ALL
        SELECT c.merge_id FROM mlops.merges AS c INNER JOIN tree AS t ON c.parent_merge_id = t.merge_id
    ),
    touched AS (
        SELECT v_merge.target AS tbl, v_merge.survivor_id AS id
        UNION
        SELECT mv.referencing_table, (mv.row_key ->> mlops.integer_key_column(mv.referencing_table))::bigint
        FROM mlops.merge_moves AS mv
        INNER JOIN tree AS t ON mv.merge_id = t.merge_id
        WHERE mlops.integer_key_column(mv.referencing_table) IS NOT NULL
        UNION
        SELECT m.target, m.survivor_id FROM mlops.merges AS m INNER JOIN tree AS t ON m.merge_id = t.merge_id
    )
    SELECT later.* INTO v_later
    FROM mlops.merges AS later
    INNER JOIN touched AS x ON later.target = x.tbl AND later.loser_ids @> ARRAY[x.id]
    WHERE later.merge_id > p_merge_id
        AND later.undone_at IS NULL
        AND later.merge_id NOT IN (SELECT t.merge_id FROM tree AS t)
    ORDER BY later.merge_id DESC
    LIMIT 1;
    IF v_later.merge_id IS NOT NULL THEN
        RAISE EXCEPTION 'cannot undo merge %: later merge % merged row(s) % of % into % since',
            p_merge_id, v_later.merge_id, v_later.loser_ids, v_later.target, v_later.survivor_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = format('Undo merge %s first (the top-level merge that contains it, if it is a conflict merge).',
                v_later.merge_id);
    END IF;

    PERFORM mlops.unmerge_apply(p_merge_id);
END;
$$;

COMMENT ON FUNCTION mlops.unmerge(bigint) IS
'Undoes a merge: losers restored with their ids (or revived from soft delete), filled survivor fields cleared, '
'moved references pointed back, conflict merges inside it undone. Refuses conflict merges (undo their parent) and '
'merges a later merge depends on.';

REVOKE EXECUTE ON FUNCTION mlops.unmerge(bigint) FROM PUBLIC;
