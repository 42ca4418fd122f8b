-- mlops.merge_raise_missing_rows: the error for survivors or losers of a merge that are not in the table: where a
-- merge took them, where the row lives now (merges since followed), else that they do not exist. One place for
-- both sides of mlops.merge_lock_rows.

CREATE OR REPLACE FUNCTION mlops.merge_raise_missing_rows(
    p_target regclass, p_side text, p_ids text[]
)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_missing text[];
    v_merge_id bigint;
    v_merged_into text;
    v_lives_on text;
BEGIN
    EXECUTE format(
        'SELECT array_agg(d.id ORDER BY d.id::%3$s) FROM (SELECT DISTINCT s.id FROM unnest($1::text[]) AS s (id)'
        ' WHERE NOT EXISTS (SELECT FROM %1$s AS t WHERE %2$s)) AS d',
        p_target, mlops.key_match_sql(p_target, 't', 's.id', false), mlops.key_type_sql(p_target)
    ) INTO v_missing USING p_ids;
    IF v_missing IS NULL THEN
        RETURN;
    END IF;
    -- the latest merge (not undone) that took one of them: one probe of mlops.merge_losers per missing key
    SELECT m.merge_id, m.survivor_key INTO v_merge_id, v_merged_into
    FROM unnest(v_missing) AS k (key)
    CROSS JOIN LATERAL (
        SELECT g.merge_id, g.survivor_key
        FROM mlops.merge_losers AS l INNER JOIN mlops.merges AS g ON g.merge_id = l.merge_id
        WHERE l.target = p_target AND l.loser_key = k.key
            AND g.target = l.target AND l.loser_key = ANY (g.loser_keys) AND g.undone_at IS NULL
        ORDER BY l.merge_id DESC
        LIMIT 1
    ) AS m
    ORDER BY m.merge_id DESC
    LIMIT 1;
    IF v_merge_id IS NOT NULL THEN
        -- Name where the row lives now: the merge's survivor may have been merged on since.
        v_lives_on := mlops.resolve_id(p_target, v_merged_into)::text;
        RAISE EXCEPTION '% % of % was already merged into % (merge %)%', p_side,
            mlops.format_ids(v_missing), p_target, v_merged_into, v_merge_id,
            CASE WHEN v_lives_on IS NOT NULL AND v_lives_on <> v_merged_into
                THEN format('; that row lives on as %s', v_lives_on)
                WHEN v_lives_on IS NULL THEN '; that row no longer exists' ELSE '' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'mlops.resolve_id() gives the id a merged row lives under now.';
    END IF;
    RAISE EXCEPTION '%', CASE WHEN cardinality(v_missing) = 1
            THEN format('%s %s does not exist in %s', p_side, v_missing[1], p_target)
            ELSE format('%s %ss do not exist in %s: %s', cardinality(v_missing), p_side, p_target,
                mlops.format_ids(v_missing)) END
        USING ERRCODE = 'no_data_found';
END;
$$;

COMMENT ON FUNCTION mlops.merge_raise_missing_rows(regclass, text, text[]) IS
'Internal: raises for the keys of p_ids (canonical text) (p_side: ''survivor'' or ''loser'') that p_target lacks: '
'55000 naming the '
'merge that took them and where the row lives now (resolve_id), else P0002 (first five ids and the count); '
'returns when every id is present.';

REVOKE EXECUTE ON FUNCTION mlops.merge_raise_missing_rows(regclass, text, text[]) FROM PUBLIC;
