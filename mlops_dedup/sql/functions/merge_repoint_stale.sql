-- mlops.merge_repoint_stale: references inserted since a soft-deleting merge still point at the merged-away row
-- (it stays in place, so the FK allows it); re-point them to where that row lives now. Logged under the merge that
-- soft-deleted the row, so undoing that merge points them back too. Looks only at rows that reference a soft-deleted
-- row (one join per FK), never at the merge history: with nothing to move it costs those joins.

CREATE OR REPLACE FUNCTION mlops.merge_repoint_stale(p_target regclass)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
DECLARE
    v_key text := mlops.key_column(p_target);
    v_key_text text;
    v_probe text;
    v_stale text[];
    v_live text[];
    v_merge_ids bigint[];
    v_fk record;
    v_moved bigint := 0;
BEGIN
    IF NOT mlops.has_soft_delete_columns(p_target) THEN
        RETURN 0;
    END IF;
    -- Driven from the referencing side: the soft-deleted rows (merged_into with deleted_at NULL is a row the
    -- application revived; its new references stay) that some row references, one join per FK, so the cost is the
    -- join's and does not grow with the number of rows merged so far. Rows merged away themselves (merged_into set)
    -- stay as they are (mlops.merge_merged_rows_stay_sql). Their keys as the log's texts, in key order: the row is
    -- still there, so its text is the one its merge logged.
    v_key_text := mlops.key_text_sql(p_target, format('s.%I', v_key));
    SELECT string_agg(format(
            'SELECT s.%1$I AS key_value, %2$s AS key FROM %3$s AS s INNER JOIN %4$s AS r ON %5$s'
            ' WHERE s.merged_into IS NOT NULL AND s.deleted_at IS NOT NULL%6$s',
            v_key, v_key_text, p_target, f.referencing_table,
            mlops.fk_match_sql(f.referencing_table, f.fk_name, 'r', 's.%2$I'),
            CASE WHEN mlops.has_soft_delete_columns(f.referencing_table) THEN ' AND r.merged_into IS NULL' ELSE '' END
        ), ' UNION ' ORDER BY f.referencing_table::text, f.fk_name)
    INTO v_probe
    FROM mlops.referencing_fks(p_target) AS f;
    IF v_probe IS NULL THEN
        RETURN 0;
    END IF;
    EXECUTE format('SELECT array_agg(t.key ORDER BY t.key_value) FROM (%s) AS t', v_probe) INTO v_stale;
    IF v_stale IS NULL THEN
        RETURN 0;
    END IF;
    -- ... and the (latest, not undone, trusted) merge that took each: one probe of mlops.merge_losers per key. A
    -- statement of its own: planned with the join, its estimate (every soft-deleted row referenced) would cross
    -- jit_above_cost and JIT-compile (0.1 s) a join that finds nothing.
    SELECT array_agg(k.key ORDER BY k.ord), array_agg(m.merge_id ORDER BY k.ord) INTO v_stale, v_merge_ids
    FROM unnest(v_stale) WITH ORDINALITY AS k (key, ord)
    CROSS JOIN LATERAL (
        SELECT l.merge_id
        FROM mlops.merge_losers AS l INNER JOIN mlops.merges AS g ON g.merge_id = l.merge_id
        WHERE l.target = p_target AND l.loser_key = k.key
            AND g.target = l.target AND l.loser_key = ANY (g.loser_keys) AND g.undone_at IS NULL
            AND mlops.merge_log_trusted(g.merged_by)
        ORDER BY l.merge_id DESC
        LIMIT 1
    ) AS m;
    IF v_stale IS NULL THEN
        RETURN 0;
    END IF;
    -- where each lives now (chains followed), all in one walk of the log
    SELECT array_agg(e.live_key ORDER BY s.ord) INTO v_live
    FROM unnest(v_stale) WITH ORDINALITY AS s (key, ord)
    LEFT JOIN mlops.merge_chain_ends(p_target, v_stale) AS e ON e.key = s.key;
    -- A merged row whose survivor is gone since (deleted by the application) has nowhere to send its references:
    -- they stay where they are, named, never set to NULL.
    IF array_position(v_live, NULL) IS NOT NULL THEN
        RAISE NOTICE 'references to merged row(s) % of % stay: the rows they were merged into no longer exist',
            mlops.format_ids(ARRAY(SELECT s.id FROM unnest(v_stale, v_live) AS s (id, live) WHERE s.live IS NULL)),
            p_target;
        SELECT array_agg(s.id ORDER BY s.ord), array_agg(s.live ORDER BY s.ord), array_agg(s.mid ORDER BY s.ord)
        INTO v_stale, v_live, v_merge_ids
        FROM unnest(v_stale, v_live, v_merge_ids) WITH ORDINALITY AS s (id, live, mid, ord)
        WHERE s.live IS NOT NULL;
        IF v_stale IS NULL THEN
            RETURN 0;
        END IF;
    END IF;
    -- The merge's own checks before anything moves: no reference to a NULL key, CHECK/exclusion constraints.
    PERFORM mlops.merge_assert_referenced_keys(p_target, v_key, v_stale, v_live);
    PERFORM mlops.merge_plan_constraints(p_target, v_key, v_stale, v_live, v_merge_ids);
    FOR v_fk IN SELECT f.* FROM mlops.referencing_fks(p_target) AS f LOOP
        PERFORM mlops.merge_resolve_collisions(
            p_target, v_key, v_fk.referencing_table, v_fk.fk_name, v_fk.referencing_columns,
            v_fk.referenced_columns, v_stale, v_live, v_merge_ids
        );
        v_moved := v_moved + mlops.merge_repoint(
            p_target, v_key, v_fk.referencing_table, v_fk.fk_name, v_fk.referencing_columns,
            v_fk.referenced_columns, v_stale, v_live, v_merge_ids
        );
    END LOOP;
    RETURN v_moved;
END;
$$;

COMMENT ON FUNCTION mlops.merge_repoint_stale(regclass) IS
'Re-points references to soft-deleted (merged) rows of the table to the rows they were merged into, logged under '
'the merge that soft-deleted each (only merges recorded by roles with the caller''s rights), after the merge''s own '
'checks (mlops.merge_assert_referenced_keys, mlops.merge_plan_constraints); references to a merged row whose '
'survivor no longer exists stay (NOTICE). Returns the number of references moved.';

REVOKE EXECUTE ON FUNCTION mlops.merge_repoint_stale(regclass) FROM PUBLIC;
