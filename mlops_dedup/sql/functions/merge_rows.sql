-- mlops.merge_rows: merges the losers into the survivor, inside the caller's transaction; returns the merge id.
-- The one-cluster form of mlops.merge_clusters.

CREATE OR REPLACE FUNCTION mlops.merge_rows(
    p_target regclass,
    p_survivor_id anycompatible,
    p_loser_ids anycompatiblearray,
    p_reason text DEFAULT 'manual',
    p_soft_delete boolean DEFAULT FALSE,
    p_fill_nulls boolean DEFAULT FALSE,
    p_score real DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
-- No SET clause: mlops.pin_search_path must see the caller's search_path (see there).
AS $$
DECLARE
    v_caller_search_path text := mlops.pin_search_path();
    v_merge_ids bigint[];
BEGIN
    IF p_survivor_id IS NULL THEN
        RAISE EXCEPTION 'survivor id must not be NULL (merging into %)', p_target
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT r.merge_ids INTO v_merge_ids
    FROM mlops.merge_clusters(
        p_target,
        array_fill(p_survivor_id, ARRAY[coalesce(cardinality(p_loser_ids), 0)]),
        p_loser_ids,
        p_reason,
        array_fill(p_score, ARRAY[coalesce(cardinality(p_loser_ids), 0)]),
        NULL,
        p_soft_delete,
        p_fill_nulls
    ) AS r;
    PERFORM pg_catalog.set_config('search_path', v_caller_search_path, true);
    RETURN v_merge_ids[1];
END;
$$;

COMMENT ON FUNCTION mlops.merge_rows(
    regclass, anycompatible, anycompatiblearray, text, boolean, boolean, real
) IS
'Merges loser rows into a survivor of the same table inside the caller''s transaction: every referencing FK '
're-pointed (collisions merged recursively), survivor NULLs filled when asked (losers in the order given), losers '
'archived and deleted or soft-deleted. Returns the merge id for mlops.unmerge. Keys of the table''s own type (uuid, '
'text, numeric, …), or of one it can be cast from: merge_rows(''app.users'', ''a0ee…''::uuid, '
'ARRAY[''b1ff…'']::uuid[]), '
'merge_rows(''shop.customers'', ''ALFKI'', ARRAY[''ALFKA'']), merge_rows(''t'', 1, ARRAY[2, 3]). Errors: 0A000 table '
'without a single-column primary key, the cast''s own SQLSTATE for a key the key type cannot read (22P02, 42846), '
'22004 NULL survivor, 22023 bad loser list, P0002 missing rows, 55000 already merged.';

REVOKE EXECUTE ON FUNCTION mlops.merge_rows(
    regclass, anycompatible, anycompatiblearray, text, boolean, boolean, real
) FROM PUBLIC;
