-- mlops.dedup_stats: per rule's table, how dedup is going: runs, the last one, rows merged, reviews waiting.

CREATE OR REPLACE VIEW mlops.dedup_stats AS
SELECT
    r.target,
    r.enabled,
    count(u.run_id) FILTER (WHERE NOT u.dry_run) AS runs,
    max(u.started_at) AS last_run_at,
    (
        SELECT l.status FROM mlops.dedup_runs AS l
        WHERE l.target = r.target
        ORDER BY l.run_id DESC LIMIT 1
    ) AS last_status,
    coalesce(sum(u.rows_merged) FILTER (WHERE NOT u.dry_run), 0)::bigint AS rows_merged,
    coalesce(sum(u.references_moved) FILTER (WHERE NOT u.dry_run), 0)::bigint AS references_moved,
    (
        SELECT count(*) FROM mlops.duplicate_candidates AS d
        WHERE d.target = r.target AND d.status = 'pending'
    ) AS pending_reviews,
    -- reltuples is -1 until the table is first analyzed: no estimate, no rate
    CASE
        WHEN max(c.reltuples) >= 0
            THEN
                round(
                    (
                        coalesce(sum(u.rows_merged) FILTER (WHERE NOT u.dry_run), 0)
                        / greatest(coalesce(sum(u.rows_merged) FILTER (WHERE NOT u.dry_run), 0) + max(c.reltuples), 1)
                    )::numeric,
                    4
                )::float8
    END AS duplicate_rate
FROM mlops.dedup_rules AS r
INNER JOIN pg_catalog.pg_class AS c ON r.target = c.oid
LEFT JOIN mlops.dedup_runs AS u ON r.target = u.target
GROUP BY r.target, r.enabled;

COMMENT ON VIEW mlops.dedup_stats IS
'Per dedup rule''s table: runs, last run and status, rows merged and references moved by runs, pending reviews, '
'and duplicate rate (rows merged / (rows merged + current rows, estimated from pg_class.reltuples); NULL until the '
'table is first analyzed).';
