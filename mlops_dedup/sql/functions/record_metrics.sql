-- mlops.record_metrics: stores a snapshot of the metrics in mlops.metric_snapshots, one row per run given (its table,
-- after it) or, without runs, one per enabled rule's table; the dashboard's trends read them. The data-quality counts
-- read whole tables, so an incremental run measures them only when its table's last count is an hour old.

CREATE OR REPLACE FUNCTION mlops.record_metrics(p_run_ids bigint[] DEFAULT NULL)
RETURNS SETOF mlops.metric_snapshots
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_measured regclass[];
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_metrics_quality (target regclass, live_rows bigint, soft_deleted_rows bigint,'
        ' exact_key_duplicate_groups bigint, references_to_merged_rows bigint, fks_without_index bigint,'
        ' fks_blocking_deletes bigint, missing_fk_partitions bigint, undeclared_references bigint)';
    IF p_run_ids IS NULL THEN
        v_measured := ARRAY(
            SELECT r.target FROM mlops.dedup_rules AS r
            WHERE r.enabled AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
                AND has_table_privilege(r.target, 'SELECT') AND has_table_privilege(r.target, 'UPDATE')
        );
    ELSE
        -- a full pass read the whole table anyway; an incremental one (a few changed rows) would pay a whole read
        v_measured := ARRAY(
            SELECT DISTINCT u.target FROM mlops.dedup_runs AS u
            WHERE u.run_id = ANY (p_run_ids) AND NOT u.dry_run
                AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = u.target)
                AND has_table_privilege(u.target, 'SELECT') AND has_table_privilege(u.target, 'UPDATE')
                AND (coalesce(u.full_pass, false) OR NOT EXISTS (
                    SELECT FROM mlops.metric_snapshots AS s
                    WHERE s.target = u.target AND s.live_rows IS NOT NULL
                        AND s.taken_at > clock_timestamp() - interval '1 hour'
                ) OR EXISTS (
                    -- an open alert that only a measure can resolve
                    SELECT FROM mlops.alerts AS a
                    WHERE a.target = u.target AND a.kind = 'references_to_merged_rows' AND a.resolved_at IS NULL
                ))
        );
    END IF;
    -- one table per transaction (a check may record twice): made once, emptied, filled
    IF to_regclass('pg_temp.mlops_metrics_quality') IS NULL THEN
        CREATE TEMP TABLE mlops_metrics_quality ON COMMIT DROP AS
        SELECT q.* FROM mlops.data_quality_of(ARRAY[]::regclass[]) AS q;
    END IF;
    TRUNCATE pg_temp.mlops_metrics_quality;
    INSERT INTO pg_temp.mlops_metrics_quality SELECT q.* FROM mlops.data_quality_of(v_measured) AS q;

    RETURN QUERY
    WITH measured AS (
        SELECT u.run_id, u.target, u.status, extract(EPOCH FROM u.finished_at - u.started_at)::float8 AS seconds,
            u.rows_merged
        FROM mlops.dedup_runs AS u
        WHERE p_run_ids IS NOT NULL AND u.run_id = ANY (p_run_ids) AND NOT u.dry_run
            AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = u.target)
            AND has_table_privilege(u.target, 'SELECT') AND has_table_privilege(u.target, 'UPDATE')
        UNION ALL
        SELECT NULL::bigint, r.target, NULL::text, NULL::float8, NULL::bigint
        FROM mlops.dedup_rules AS r
        WHERE p_run_ids IS NULL AND r.enabled AND r.target = ANY (v_measured)
    )
    INSERT INTO mlops.metric_snapshots AS s (
        run_id, target, run_status, run_seconds, rows_merged, duplicate_rate, live_rows, soft_deleted_rows,
        exact_key_duplicate_groups, references_to_merged_rows, fks_without_index, fks_blocking_deletes,
        missing_fk_partitions, undeclared_references, pending_reviews, oldest_pending_review_seconds
    )
    SELECT m.run_id, m.target, m.status, m.seconds, m.rows_merged,
        -- rows merged / (rows merged + live rows): counted now, else as the table's last count (within the hour)
        CASE WHEN m.rows_merged IS NOT NULL AND m.rows_merged + coalesce(q.live_rows, l.live_rows) > 0
            THEN least(1, m.rows_merged::float8 / (m.rows_merged + coalesce(q.live_rows, l.live_rows))) END,
        q.live_rows, q.soft_deleted_rows, q.exact_key_duplicate_groups, q.references_to_merged_rows,
        q.fks_without_index, q.fks_blocking_deletes, q.missing_fk_partitions, q.undeclared_references,
        p.pending, p.oldest
    FROM measured AS m
    LEFT JOIN pg_temp.mlops_metrics_quality AS q ON q.target = m.target
    LEFT JOIN LATERAL (
        SELECT ls.live_rows FROM mlops.metric_snapshots AS ls
        WHERE ls.target = m.target AND ls.live_rows IS NOT NULL
        ORDER BY ls.snapshot_id DESC LIMIT 1
    ) AS l ON TRUE
    CROSS JOIN LATERAL (
        SELECT count(*) AS pending, extract(EPOCH FROM clock_timestamp() - min(c.created_at))::float8 AS oldest
        FROM mlops.duplicate_candidates AS c
        WHERE c.target = m.target AND c.status = 'pending'
    ) AS p
    ORDER BY m.run_id, m.target::text
    RETURNING s.*;
END;
$$;

COMMENT ON FUNCTION mlops.record_metrics(bigint[]) IS
'Stores and returns snapshots (rows of mlops.metric_snapshots): one per run in p_run_ids that was not a dry run (the '
'run''s status, duration in seconds, rows merged, duplicate rate = rows merged / (rows merged + live rows), 0-1), or, '
'when p_run_ids is NULL, one per enabled rule''s table (run columns NULL); each with the review queue (pending pairs, '
'age of the oldest in seconds) and the counts of mlops.data_quality. Those read whole tables: a run measures them '
'when it was a full pass, its table''s last count is more than an hour old or an open references_to_merged_rows '
'alert is about its table; else they are NULL and the duplicate rate uses the table''s last count of live rows. '
'merge_duplicates calls it at the end of every CALL. Only tables the caller may change (SELECT and UPDATE) are '
'recorded; a table that cannot be measured is named in a WARNING and its counts are NULL.';

REVOKE EXECUTE ON FUNCTION mlops.record_metrics(bigint[]) FROM PUBLIC;
