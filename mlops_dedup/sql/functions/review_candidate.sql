-- mlops.review_candidate: a person's decision on a pair in the review queue: 'merge' merges it now (survivor by
-- the rule's keep_order, rebuilt from column names), 'distinct' records that the two are different, so the pair is
-- never proposed again. Pairs of any key type (left_key, right_key: the keys as text).

CREATE OR REPLACE FUNCTION mlops.review_candidate(p_candidate_id bigint, p_decision text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
-- No SET clause: mlops.pin_search_path must see the caller's search_path (see there).
AS $$
DECLARE
    v_caller_search_path text := mlops.pin_search_path();
    v_refusal text;
    v_candidate record;
    v_rule record;
    v_resolve text;
    v_left text;
    v_right text;
    v_rows text[];
    v_merge_id bigint;
BEGIN
    IF p_decision IS NULL OR p_decision NOT IN ('merge', 'distinct') THEN
        RAISE EXCEPTION 'decision must be ''merge'' or ''distinct'', got %', coalesce(quote_literal(p_decision), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c.* INTO v_candidate FROM mlops.duplicate_candidates AS c WHERE c.candidate_id = p_candidate_id FOR UPDATE;
    IF v_candidate.candidate_id IS NULL THEN
        RAISE EXCEPTION 'review candidate % does not exist', p_candidate_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_candidate.status <> 'pending' THEN
        RAISE EXCEPTION 'review candidate % was already decided (%) at %', p_candidate_id, v_candidate.status,
            v_candidate.decided_at
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;

    IF p_decision = 'merge' THEN
        v_refusal := mlops.dedup_rule_merge_refusal(v_candidate.target);
        IF v_refusal IS NOT NULL THEN
            RAISE EXCEPTION '%', v_refusal USING ERRCODE = 'insufficient_privilege';
        END IF;
        -- Either row may have been merged since it was queued: merge where they live now. resolve_id takes the key
        -- in its own type and answers in it; the answer is turned back into the canonical key text.
        v_resolve := mlops.key_text_sql(v_candidate.target,
            format('mlops.resolve_id($1, ($2)::%s)', mlops.key_type_sql(v_candidate.target)));
        EXECUTE format('SELECT %s', v_resolve) INTO v_left USING v_candidate.target, v_candidate.left_key;
        EXECUTE format('SELECT %s', v_resolve) INTO v_right USING v_candidate.target, v_candidate.right_key;
        -- The rows where they live, best first by the rule's keep_order: one row when both were merged into it.
        IF v_left IS NOT NULL AND v_right IS NOT NULL THEN
            SELECT r.* INTO v_rule FROM mlops.dedup_rules AS r WHERE r.target = v_candidate.target;
            EXECUTE format(
                'SELECT array_agg(x.k ORDER BY x.ord) FROM (SELECT %1$s AS k, row_number() OVER (ORDER BY %2$s) AS ord'
                ' FROM %3$s AS t WHERE %4$s) AS x',
                mlops.key_text_sql(v_candidate.target, format('t.%I', mlops.key_column(v_candidate.target))),
                mlops.dedup_rule_keep_order_sql(v_candidate.target, v_rule.keep_order), v_candidate.target,
                mlops.key_match_sql(v_candidate.target, 't', '$1')
            ) INTO v_rows USING ARRAY[v_left, v_right];
        END IF;
        IF coalesce(cardinality(v_rows), 0) < (CASE WHEN v_left = v_right THEN 1 ELSE 2 END) THEN
            RAISE EXCEPTION 'review candidate %: row % or % of % no longer exists', p_candidate_id,
                v_candidate.left_key, v_candidate.right_key, v_candidate.target
                USING ERRCODE = 'no_data_found',
                HINT = format('Nothing is left to merge: SELECT mlops.review_candidate(%s, ''distinct'') takes the '
                    'pair off the queue.', p_candidate_id);
        END IF;
        IF cardinality(v_rows) = 1 THEN
            RAISE NOTICE 'review candidate %: rows % and % of % were merged into % already; recorded as merged',
                p_candidate_id, v_candidate.left_key, v_candidate.right_key, v_candidate.target, v_rows[1];
        ELSE
            v_merge_id := mlops.merge_rows(
                v_candidate.target, v_rows[1], v_rows[2:2], 'review', coalesce(v_rule.soft_delete, false),
                coalesce(v_rule.fill_nulls, false), v_candidate.score
            );
        END IF;
    END IF;
    UPDATE mlops.duplicate_candidates
    SET status = CASE WHEN p_decision = 'merge' THEN 'merged' ELSE 'distinct' END, decided_at = now()
    WHERE candidate_id = p_candidate_id;
    PERFORM pg_catalog.set_config('search_path', v_caller_search_path, true);
    RETURN v_merge_id;
END;
$$;

COMMENT ON FUNCTION mlops.review_candidate(bigint, text) IS
'Decides a pending review pair (left_key, right_key: keys of any type as text): ''merge'' merges it where its rows '
'live now (mlops.resolve_id; survivor by keep_order, through mlops.merge_rows; returns the merge id; NULL with a '
'NOTICE when both rows were merged into one row already), ''distinct'' keeps it from being proposed again (returns '
'NULL). ''merge'' is refused (42501) for a table without a dedup rule, or when the rule''s writer or a table the '
'merge may write lacks the caller''s rights (mlops.dedup_rule_merge_refusal). Unknown id P0002 (and a pair whose '
'row is gone: decide it ''distinct''), other words 22023, a decided pair 55000.';

REVOKE EXECUTE ON FUNCTION mlops.review_candidate(bigint, text) FROM PUBLIC;
