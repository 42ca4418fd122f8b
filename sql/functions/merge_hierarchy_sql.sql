-- mlops.merge_hierarchy_sql: for a self-referencing FK of the target (one column, to the key), the subquery that
-- says where a survivor that references its own loser points after the merge: at the loser's own reference
-- (1 <- 2 <- 3, merge 2 into 3: 3 reports to 1), following the chain through losers of the same cluster, mapped to
-- its survivor when it is a loser of another cluster; never at itself, except when the loser was a root that
-- referenced itself. A chain that leads back to the survivor (or loops among losers) is flagged as a cycle.

CREATE OR REPLACE FUNCTION mlops.merge_hierarchy_sql(p_target regclass, p_key_column text, p_fk_column text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- $1 loser ids, $2 survivor ids (the merge statements' parameters). One row per survivor that references one of
    -- its own losers: (survivor_id, loser_id, new_ref, cycle).
    RETURN format(
        $q$
        WITH RECURSIVE m AS (
            SELECT u.loser_id, u.survivor_id FROM unnest($1::bigint[], $2::bigint[]) AS u (loser_id, survivor_id)
        ),
        walk (survivor_id, loser_id, cur, nxt, path) AS (
            SELECT m.survivor_id, m.loser_id, m.loser_id, l.%2$I::bigint, ARRAY[m.loser_id]
            FROM m
            INNER JOIN %1$s AS s ON s.%3$I = m.survivor_id AND s.%2$I = m.loser_id
            INNER JOIN %1$s AS l ON l.%3$I = m.loser_id
            UNION ALL
            SELECT w.survivor_id, w.loser_id, w.nxt, l.%2$I::bigint, w.path || w.nxt
            FROM walk AS w
            INNER JOIN m ON m.loser_id = w.nxt AND m.survivor_id = w.survivor_id
            INNER JOIN %1$s AS l ON l.%3$I = w.nxt
            WHERE w.nxt <> ALL (w.path)
        )
        SELECT DISTINCT ON (w.survivor_id) w.survivor_id, w.loser_id,
            CASE
                WHEN w.nxt IS NULL THEN NULL
                WHEN w.nxt = w.cur THEN w.survivor_id
                WHEN w.nxt = w.survivor_id OR w.nxt = ANY (w.path) THEN NULL
                ELSE coalesce(o.survivor_id, w.nxt)
            END AS new_ref,
            coalesce(w.nxt <> w.cur AND (w.nxt = w.survivor_id OR w.nxt = ANY (w.path)), false) AS cycle
        FROM walk AS w
        LEFT JOIN m AS o ON o.loser_id = w.nxt
        ORDER BY w.survivor_id, cardinality(w.path) DESC
        $q$,
        p_target, p_fk_column, p_key_column
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_hierarchy_sql(regclass, text, text) IS
'Internal: SQL text of a subquery (parameters $1 loser ids, $2 survivor ids) with one row (survivor_id, loser_id, '
'new_ref bigint, cycle boolean) per survivor whose self-referencing FK column p_fk_column points at one of its own '
'losers: new_ref is the loser''s own reference (followed through losers of the same cluster, mapped to the survivor '
'of another cluster); cycle is true when that chain leads back to the survivor or loops among the losers.';

REVOKE EXECUTE ON FUNCTION mlops.merge_hierarchy_sql(regclass, text, text) FROM PUBLIC;
