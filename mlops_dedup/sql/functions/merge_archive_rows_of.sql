-- mlops.merge_archive_rows_of: one DELETE ... RETURNING of a merge's losers from one relation (the merged table
-- with its partitions, or ONLY one inheritance child) that writes each deleted row's archive copy.

CREATE OR REPLACE FUNCTION mlops.merge_archive_rows_of(
    p_target regclass,
    p_relation regclass,
    p_loser_ids text[],
    p_merge_ids bigint[],
    p_skip_children oid[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_count bigint;
BEGIN
    EXECUTE format(
        'WITH %8$s, gone AS (DELETE FROM %1$s%2$s AS t'
        ' USING unnest($1::text[], $2::bigint[]) AS m (loser_id, merge_id)'
        ' WHERE %3$s%4$s'
        ' RETURNING m.merge_id, m.loser_id, to_jsonb(t.*) AS row_data, %5$s AS row_text)'
        ' INSERT INTO mlops.merge_archive (merge_id, target, row_key, row_data, row_text, source_table)'
        ' SELECT gone.merge_id, %6$L::regclass, gone.loser_id, gone.row_data, gone.row_text, %7$s FROM %9$s',
        CASE WHEN p_relation = p_target THEN '' ELSE 'ONLY ' END,
        p_relation,
        mlops.key_match_sql(p_target, 't', 'm.loser_id', false),
        CASE WHEN p_skip_children IS NULL THEN '' ELSE ' AND t.tableoid <> ALL ($3::oid[])' END,
        mlops.archive_row_text_sql(p_relation, 't'),
        p_target,
        CASE WHEN p_relation = p_target THEN 'NULL::regclass' ELSE format('%L::regclass', p_relation) END,
        mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('gone')
    ) USING p_loser_ids, p_merge_ids, p_skip_children;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION mlops.merge_archive_rows_of(regclass, regclass, text[], bigint[], oid[]) IS
'Internal, part of a merge: deletes the losers found in p_relation (p_target itself, rows of the children '
'p_skip_children excepted, or ONLY an inheritance child) and archives each deleted row in the same statement; '
'returns how many.';

REVOKE EXECUTE ON FUNCTION mlops.merge_archive_rows_of(regclass, regclass, text[], bigint[], oid[])
FROM PUBLIC;
