-- mlops.merge_conflicts_add: adds the collision reports of some merges (mlops.merges.conflicts, per referencing
-- table) into a running total of the same shape; merge_duplicates keeps one per run in mlops.dedup_runs.conflicts.
-- Merges that collided with nothing cost one probe of merges_pkey each: a batch without collisions adds nothing.

CREATE OR REPLACE FUNCTION mlops.merge_conflicts_add(p_total jsonb, p_merge_ids bigint[])
RETURNS jsonb
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
DECLARE
    v_reports jsonb[];
BEGIN
    -- Only the merges that have a report: the query below is then planned for a few rows, not for the whole batch
    -- (planned for 5,000 merge ids, its estimate passed jit_above_cost: 0.9 s of JIT compiling for an empty result).
    SELECT array_agg(m.conflicts) INTO v_reports
    FROM mlops.merges AS m
    WHERE m.merge_id = ANY (p_merge_ids) AND m.conflicts IS NOT NULL AND m.conflicts <> '{}'::jsonb;
    IF v_reports IS NULL AND coalesce(p_total, '{}'::jsonb) = '{}'::jsonb THEN
        RETURN '{}'::jsonb;
    END IF;
    RETURN (
        WITH parts AS (
            SELECT e.key AS tbl, e.value AS report
            FROM jsonb_each(coalesce(p_total, '{}'::jsonb)) AS e
            UNION ALL
            SELECT e.key, e.value
            FROM unnest(v_reports) AS m (conflicts) CROSS JOIN LATERAL jsonb_each(m.conflicts) AS e
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
