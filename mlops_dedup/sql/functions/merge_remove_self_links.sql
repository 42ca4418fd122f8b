-- mlops.merge_remove_self_links: part of merge planning. Link rows whose two references to the merged table would
-- become the same survivor, which a CHECK forbids (follow: CHECK (follower <> followee)), are collisions: archived
-- (under the table they live in, so undo puts them back there) and deleted, unless the table's conflict policy
-- (mlops.conflict_policies, when installed) is 'refuse' or other rows reference them: then the merge is refused.

CREATE OR REPLACE FUNCTION mlops.merge_remove_self_links(
    p_target regclass,
    p_referencing regclass,
    p_toids oid[],
    p_ctids tid[],
    p_merge_ids bigint[],
    p_keys text[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_policies regclass;
    v_action text;
    v_fk record;
    v_count bigint;
BEGIN
    IF coalesce(cardinality(p_ctids), 0) = 0 THEN
        RETURN 0;
    END IF;
    v_count := cardinality(p_ctids);
    -- the policy table comes with another migration: read it only where it exists
    v_policies := pg_catalog.to_regclass('mlops.conflict_policies');
    IF v_policies IS NOT NULL THEN
        EXECUTE format('SELECT p.action FROM %s AS p WHERE p.referencing_table = $1', v_policies)
        INTO v_action USING p_referencing;
    END IF;
    IF v_action = 'refuse' THEN
        RAISE EXCEPTION 'cannot merge rows of %: % row(s) of % would reference the survivor twice, which check '
            'constraints of % forbid, and its conflict policy is refuse: %', p_target, v_count, p_referencing,
            p_referencing, array_to_string(p_keys, ', ') || CASE WHEN v_count > 5 THEN ' …' ELSE '' END
            USING ERRCODE = 'check_violation',
            DETAIL = 'Without the refuse policy those rows would be archived and removed (undo restores them). '
                'Nothing was changed.',
            HINT = format('Delete those rows first, or change the policy: UPDATE mlops.conflict_policies SET action '
                '= %L WHERE referencing_table = %L::regclass.', 'twin', p_referencing::text);
    END IF;
    FOR v_fk IN SELECT f.* FROM mlops.referencing_fks(p_referencing) AS f LOOP
        EXECUTE format(
            'SELECT count(*) FROM %s AS x WHERE EXISTS (SELECT FROM %s AS r'
            ' INNER JOIN unnest($1::oid[], $2::tid[]) AS l (toid, t) ON r.tableoid = l.toid AND r.ctid = l.t'
            ' WHERE %s)',
            v_fk.referencing_table, p_referencing,
            mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'x', 'r.%2$I')
        ) INTO v_count USING p_toids, p_ctids;
        IF v_count > 0 THEN
            RAISE EXCEPTION 'cannot merge rows of %: row(s) % of % would reference the survivor twice and must go, '
                'but % row(s) of % reference them through %', p_target, array_to_string(p_keys, ', '), p_referencing,
                v_count, v_fk.referencing_table, v_fk.fk_name
                USING ERRCODE = 'check_violation',
                DETAIL = 'A check constraint forbids a row that references the same row twice; removing it would '
                    'strand the rows that reference it. Nothing was changed.',
                HINT = format('Move or delete the rows of %s that reference them first.', v_fk.referencing_table);
        END IF;
    END LOOP;
    EXECUTE format(
        'WITH %3$s, gone AS (DELETE FROM %1$s AS r'
        ' USING unnest($1::oid[], $2::tid[], $3::bigint[]) AS x (toid, t, mid)'
        ' WHERE r.tableoid = x.toid AND r.ctid = x.t'
        ' RETURNING x.mid, r.tableoid AS toid, %2$s AS row_key, to_jsonb(r.*) AS row_data, %5$s AS row_text)'
        -- archived under the referencing table (as every archive path: its rights decide who reads the copy); a
        -- row of an inheritance child keeps that child as source_table, a partition's row goes back by routing
        ' INSERT INTO mlops.merge_archive (merge_id, target, row_key, row_data, row_text, source_table)'
        ' SELECT gone.mid, %6$L::regclass, gone.row_key, gone.row_data, gone.row_text,'
        ' CASE WHEN gone.toid <> %6$L::regclass AND NOT (SELECT c.relispartition FROM pg_catalog.pg_class AS c'
        ' WHERE c.oid = gone.toid) THEN gone.toid::regclass END FROM %4$s',
        p_referencing,
        CASE WHEN mlops.key_column(p_referencing) IS NULL THEN 'NULL::text'
            ELSE mlops.key_text_sql(p_referencing, format('r.%I', mlops.key_column(p_referencing))) END,
        mlops.caller_search_path_cte_sql(), mlops.caller_search_path_scan_sql('gone'),
        mlops.archive_row_text_sql(p_referencing, 'r'),
        p_referencing
    ) USING p_toids, p_ctids, p_merge_ids;
    GET DIAGNOSTICS v_count = ROW_COUNT;
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);  -- after the user's triggers
    IF v_count <> cardinality(p_ctids) THEN
        RAISE EXCEPTION 'merge of % removed only % of % rows of % that would reference the survivor twice: a '
            'trigger or rule on % skipped the others', p_target, v_count, cardinality(p_ctids), p_referencing,
            p_referencing
            USING ERRCODE = 'triggered_action_exception',
            DETAIL = 'Nothing was merged; the whole merge is rolled back.',
            HINT = 'Disable or adapt the BEFORE DELETE trigger (or rule) for the merge.';
    END IF;
    RAISE NOTICE 'merge of %: % row(s) of % would reference the survivor twice (check constraint): archived and '
        'removed as collisions; undo restores them', p_target, v_count, p_referencing;
    RETURN v_count;
END;
$$;

COMMENT ON FUNCTION mlops.merge_remove_self_links(regclass, regclass, oid[], tid[], bigint[], text[]) IS
'Internal, part of mlops.merge_plan_constraints: archives (mlops.merge_archive, under merge p_merge_ids[i]) and '
'deletes the rows (tableoid, ctid) of p_referencing that would reference the survivor twice; returns how many. '
'Refuses (23514) when the table''s conflict policy is refuse or other rows reference them; rolls back (09000) when a '
'trigger or rule skipped one.';

REVOKE EXECUTE ON FUNCTION mlops.merge_remove_self_links(
    regclass, regclass, oid[], tid[], bigint[], text[]
) FROM PUBLIC;
