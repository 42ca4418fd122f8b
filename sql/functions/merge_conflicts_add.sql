-- mlops.merge_conflicts_add: adds the collision reports of some merges (mlops.merges.conflicts, per referencing
-- table) into a running total of the same shape; merge_duplicates keeps one per run in mlops.dedup_runs.conflicts.

CREATE OR REPLACE FUNCTION mlops.merge_conflicts_add(p_total jsonb, p_merge_ids bigint[])
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        WITH parts AS (
            SELECT e.key AS tbl, e.value AS report
            FROM jsonb_each(coalesce(p_total, '{}'::jsonb)) AS e
            UNION ALL
            SELECT e.key, e.value
            FROM mlops.merges AS m CROSS JOIN LATERAL jsonb_each(coalesce(m.conflicts, '{}'::jsonb)) AS e
            WHERE m.merge_id = ANY (p_merge_ids)
        )
        SELECT coalesce(jsonb_object_agg(t.tbl, t.report), '{}'::jsonb)
        FROM (
            SELECT p.tbl, jsonb_build_object(
                'policy', string_agg(DISTINCT p.report ->> 'policy', ', '),
                'merged', sum((p.report ->> 'merged')::bigint),
                'differed', sum((p.report ->> 'differed')::bigint),
                'columns', (
                    SELECT coalesce(jsonb_agg(DISTINCT c.value ORDER BY c.value), '[]'::jsonb)
                    FROM parts AS q CROSS JOIN LATERAL jsonb_array_elements(coalesce(q.report -> 'columns', '[]')) AS c
                    WHERE q.tbl = p.tbl
                )
            ) AS report
            FROM parts AS p
            GROUP BY p.tbl
        ) AS t
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_conflicts_add(jsonb, bigint[]) IS
'Internal: p_total plus the conflicts reports of merges p_merge_ids, per referencing table {"policy": text, '
'"merged": rows, "differed": rows, "columns": [text]}; the shape of mlops.merges.conflicts and '
'mlops.dedup_runs.conflicts.';

REVOKE EXECUTE ON FUNCTION mlops.merge_conflicts_add(jsonb, bigint[]) FROM PUBLIC;
