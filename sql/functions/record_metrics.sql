-- mlops.record_metrics: stores a snapshot of the data-quality metrics in mlops.metric_snapshots, one row per run
-- given (the run's table, after it) or, without runs, one per enabled rule's table; the dashboard's trends read them.

CREATE OR REPLACE FUNCTION mlops.record_metrics(p_run_ids bigint[] DEFAULT NULL)
RETURNS SETOF mlops.metric_snapshots
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    WITH quality AS MATERIALIZED (
        -- one pass of the report for every table: it reads the FK audit once
        SELECT q.* FROM mlops.data_quality_report() AS q
    ),
    measured AS (
        SELECT u.run_id, u.target, u.status, extract(EPOCH FROM u.finished_at - u.started_at)::float8 AS seconds,
            u.rows_merged
        FROM mlops.dedup_runs AS u
        WHERE p_run_ids IS NOT NULL AND u.run_id = ANY (p_run_ids) AND NOT u.dry_run
        UNION ALL
        SELECT NULL::bigint, r.target, NULL::text, NULL::float8, NULL::bigint
        FROM mlops.dedup_rules AS r
        WHERE p_run_ids IS NULL AND r.enabled
    )
    INSERT INTO mlops.metric_snapshots AS s (
        run_id, target, run_status, run_seconds, rows_merged, duplicate_rate, live_rows, soft_deleted_rows,
        exact_key_duplicate_groups, references_to_merged_rows, fks_without_index, fks_blocking_deletes,
        missing_fk_partitions, undeclared_references, pending_reviews, oldest_pending_review_seconds
    )
    SELECT m.run_id, m.target, m.status, m.seconds, m.rows_merged,
        CASE WHEN m.rows_merged IS NOT NULL AND m.rows_merged + q.live_rows > 0
            THEN m.rows_merged::float8 / (m.rows_merged + q.live_rows) END,
        q.live_rows, q.soft_deleted_rows, q.exact_key_duplicate_groups, q.references_to_merged_rows,
        q.fks_without_index, q.fks_blocking_deletes, q.missing_fk_partitions, q.undeclared_references,
        p.pending, p.oldest
    FROM measured AS m
    INNER JOIN quality AS q ON q.target = m.target
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
'Stores and returns snapshots (rows of mlops.metric_snapshots) of mlops.data_quality plus the review queue (pending '
'pairs, age of the oldest in seconds): one per run in p_run_ids that was not a dry run (with the run''s status, '
'duration in seconds, rows merged and duplicate rate = rows merged / (rows merged + live rows), 0-1), or, when '
'p_run_ids is NULL, one per enabled rule''s table (run columns NULL). merge_duplicates calls it at the end of every '
'CALL. Only tables the caller may read (row-level security: 42501 otherwise).';

REVOKE EXECUTE ON FUNCTION mlops.record_metrics(bigint[]) FROM PUBLIC;
