-- mlops.merge_lock_rows: checks a loser -> survivor mapping and locks its rows before anything changes:
-- survivors FOR NO KEY UPDATE (inserts that reference them go on), losers FOR UPDATE (inserts that reference
-- them wait, then fail cleanly once the merge commits), each in id order so concurrent merges queue, not deadlock.

CREATE OR REPLACE FUNCTION mlops.merge_lock_rows(
    p_target regclass, p_key_column text, p_survivor_ids text[], p_loser_ids text[]
)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_repeated text[];
    v_overlap text[];
    v_survivor_count bigint;
    v_marked text;
    v_found_count bigint;
    v_bad text[];
    v_marked_losers text[];
    v_key_type CONSTANT text := mlops.key_type_sql(p_target);
    v_key_cast CONSTANT text := CASE WHEN mlops.key_text_is_canonical(p_target) THEN '' ELSE '::' || v_key_type END;
    v_key_text CONSTANT text := mlops.key_text_sql(p_target, format('t.%I', p_key_column));
BEGIN
    IF p_survivor_ids IS NULL OR array_position(p_survivor_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'survivor id must not be NULL (merging into %)', p_target
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_loser_ids IS NULL OR cardinality(p_loser_ids) = 0 THEN
        RAISE EXCEPTION 'no loser ids given (merging into %)', p_target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Pass the keys to merge away, e.g. ARRAY[2, 3] or ARRAY[''b1ff…'']::uuid[].';
    END IF;
    IF array_position(p_loser_ids, NULL) IS NOT NULL THEN
        RAISE EXCEPTION 'loser ids for % must not contain NULL (position % of %)', p_target,
            array_position(p_loser_ids, NULL), cardinality(p_loser_ids)
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF cardinality(p_survivor_ids) <> cardinality(p_loser_ids) THEN
        RAISE EXCEPTION 'survivor and loser arrays differ in length (% and %)',
            cardinality(p_survivor_ids), cardinality(p_loser_ids)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Cheap checks first; the offending keys are worked out only when one fails. Keys compare as values of the
    -- key type (its default btree equality): 'A' and 'a' are one citext key, 1.5 and 1.50 one numeric key.
    -- (Keys whose type has one text per value compare as that text: no cast.)
    EXECUTE format(
        'SELECT (SELECT count(DISTINCT s.id%1$s) FROM unnest($1::text[]) AS s (id)),'
        ' (SELECT count(DISTINCT l.id%1$s) FROM unnest($2::text[]) AS l (id))',
        v_key_cast
    ) INTO v_survivor_count, v_found_count USING p_survivor_ids, p_loser_ids;
    IF v_found_count < cardinality(p_loser_ids) THEN
        EXECUTE format(
            'SELECT array_agg(d.id ORDER BY d.id::%1$s) FROM (SELECT min(l.id) AS id FROM unnest($1::text[]) AS l (id)'
            ' GROUP BY l.id::%1$s HAVING count(*) > 1) AS d',
            v_key_type
        ) INTO v_repeated USING p_loser_ids;
        RAISE EXCEPTION 'loser ids of % appear more than once: %', p_target, mlops.format_ids(v_repeated)
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format(
        'SELECT array_agg(b.id::text ORDER BY b.id::%2$s) FROM (SELECT s.id%1$s AS id FROM unnest($1::text[]) AS s (id)'
        ' INTERSECT SELECT l.id%1$s FROM unnest($2::text[]) AS l (id)) AS b',
        v_key_cast, v_key_type
    ) INTO v_overlap USING p_survivor_ids, p_loser_ids;
    IF v_overlap IS NOT NULL THEN
        RAISE EXCEPTION 'survivor % of % is also among the losers', mlops.format_ids(v_overlap), p_target
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'A row cannot be merged into itself, and a survivor cannot be merged away in the same call.';
    END IF;

    -- With soft delete, merged rows stay in the table, marked: they count as merged already.
    v_marked := CASE WHEN mlops.has_soft_delete_columns(p_target) THEN 't.merged_into IS NOT NULL' ELSE 'false' END;

    -- Survivors first, then losers, each in id order. Which ids are missing is worked out only on error.
    EXECUTE format(
        'SELECT count(*), array_agg(x.id ORDER BY x.k) FILTER (WHERE x.marked)'
        ' FROM (SELECT t.%1$I AS k, %4$s AS id, %3$s AS marked FROM %2$s AS t'
        ' WHERE %5$s ORDER BY t.%1$I FOR NO KEY UPDATE) AS x',
        p_key_column, p_target, v_marked, v_key_text, mlops.key_match_sql(p_target, 't', '$1')
    ) INTO v_found_count, v_bad USING p_survivor_ids;
    IF v_found_count < v_survivor_count THEN
        PERFORM mlops.merge_raise_missing_rows(p_target, 'survivor', p_survivor_ids);
    END IF;

    EXECUTE format(
        'SELECT count(*), array_agg(x.id ORDER BY x.k) FILTER (WHERE x.marked)'
        ' FROM (SELECT t.%1$I AS k, %4$s AS id, %3$s AS marked FROM %2$s AS t'
        ' WHERE %5$s ORDER BY t.%1$I FOR UPDATE) AS x',
        p_key_column, p_target, v_marked, v_key_text, mlops.key_match_sql(p_target, 't', '$1')
    ) INTO v_found_count, v_marked_losers USING p_loser_ids;
    IF v_found_count < cardinality(p_loser_ids) THEN
        PERFORM mlops.merge_raise_missing_rows(p_target, 'loser', p_loser_ids);
    END IF;
    v_bad := v_bad || v_marked_losers;
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION 'row % of % was already merged (soft-deleted)%', mlops.format_ids(v_bad), p_target,
            CASE WHEN cardinality(v_bad) = 1 AND mlops.resolve_id(p_target, v_bad[1]) IS NOT NULL
                THEN format('; it lives on as %s', mlops.resolve_id(p_target, v_bad[1])) ELSE '' END
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'mlops.resolve_id() gives the id a merged row lives under now.';
    END IF;
END;
$$;

COMMENT ON FUNCTION mlops.merge_lock_rows(regclass, text, text[], text[]) IS
'Validates a loser -> survivor mapping (no NULLs, no repeated loser, no survivor among the losers, every row '
'present and not merged yet) and locks survivors FOR NO KEY UPDATE and losers FOR UPDATE, in id order.';

REVOKE EXECUTE ON FUNCTION mlops.merge_lock_rows(regclass, text, text[], text[]) FROM PUBLIC;
