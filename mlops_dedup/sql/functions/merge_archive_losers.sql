-- mlops.merge_archive_losers: archives and deletes the losers of a merge, each row together with its archive copy
-- in one statement: to_jsonb(row) plus the exact text of columns whose JSON form is not exact; a loser that lives
-- in an inheritance child is deleted from that child (ONLY), archived with the child's own columns and its table.

CREATE OR REPLACE FUNCTION mlops.merge_archive_losers(
    p_target regclass, p_loser_ids text[], p_merge_ids bigint[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_children oid[];
    v_rel regclass;
    v_count bigint;
    v_total bigint := 0;
BEGIN
    -- Inheritance children (not partitions: a partition has the table's columns, and a row goes back through the
    -- table) that hold losers.
    EXECUTE format(
        'SELECT array_agg(DISTINCT t.tableoid) FROM %s AS t WHERE %s AND t.tableoid <> $2::oid'
        ' AND NOT ($2::oid IN (SELECT pg_catalog.pg_partition_ancestors(t.tableoid::regclass)))',
        p_target, mlops.key_match_sql(p_target, 't', '$1')
    ) INTO v_children USING p_loser_ids, p_target;

    FOR v_rel IN SELECT c::regclass FROM unnest(v_children) AS c ORDER BY c LOOP
        IF NOT (has_table_privilege(v_rel, 'SELECT') AND has_table_privilege(v_rel, 'DELETE')) THEN
            RAISE EXCEPTION 'cannot merge rows of %: loser rows live in its inheritance child %, which % may not '
                'read and delete', p_target, v_rel, current_user
                USING ERRCODE = 'insufficient_privilege',
                DETAIL = 'The merge archives such a row from the child itself, with the child''s own columns, so '
                    'that undo can put it back there. Nothing was changed.',
                HINT = format('GRANT SELECT, DELETE, INSERT ON %s to the merging role.', v_rel);
        END IF;
        v_total := v_total + mlops.merge_archive_rows_of(p_target, v_rel, p_loser_ids, p_merge_ids,
            NULL);
    END LOOP;
    v_count := mlops.merge_archive_rows_of(p_target, p_target, p_loser_ids, p_merge_ids, v_children);
    RETURN v_total + v_count;
END;
$$;

COMMENT ON FUNCTION mlops.merge_archive_losers(regclass, text[], bigint[]) IS
'Internal, part of a merge: deletes the losers (the i-th loser under merge p_merge_ids[i]) and archives each in '
'mlops.merge_archive in the same statement (row_data, row_text, source_table for an inheritance child); returns '
'how many rows were deleted. A child the caller may not read and delete: 42501.';

REVOKE EXECUTE ON FUNCTION mlops.merge_archive_losers(regclass, text[], bigint[]) FROM PUBLIC;
