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
    -- $1 loser keys, $2 survivor keys (text[]: the merge statements' parameters). One row per survivor that
    -- references one of its own losers: (survivor_id, loser_id, new_ref: key texts, cycle). Keys walk as their
    -- canonical texts, so the chain is compared the same way whatever the key type.
    RETURN format(
        $q$
        WITH RECURSIVE m AS (
            SELECT u.loser_id, u.survivor_id FROM unnest($1::text[], $2::text[]) AS u (loser_id, survivor_id)
        ),
        walk (survivor_id, loser_id, cur, nxt, path) AS (
            SELECT m.survivor_id, m.loser_id, m.loser_id, %4$s, ARRAY[m.loser_id]
            FROM m
            INNER JOIN %1$s AS s ON %5$s AND %7$s
            INNER JOIN %1$s AS l ON %6$s
            UNION ALL
            SELECT w.survivor_id, w.loser_id, w.nxt, %4$s, w.path || w.nxt
            FROM walk AS w
            INNER JOIN m ON m.loser_id = w.nxt AND m.survivor_id = w.survivor_id
            INNER JOIN %1$s AS l ON %8$s
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
        p_target, p_fk_column, p_key_column,
        -- the next row of the chain named by its own key text (a citext reference may spell it otherwise)
        format('(SELECT %s FROM %s AS x WHERE %s)', mlops.key_text_sql(p_target, format('x.%I', p_key_column)),
            p_target, mlops.key_match_sql(p_target, 'x', format('l.%I', p_fk_column), false)),
        mlops.key_match_sql(p_target, 's', 'm.survivor_id', false),
        mlops.key_match_sql(p_target, 'l', 'm.loser_id', false),
        mlops.key_match_sql(p_target, 's', 'm.loser_id', false, format('s.%I', p_fk_column)),
        mlops.key_match_sql(p_target, 'l', 'w.nxt', false)
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_hierarchy_sql(regclass, text, text) IS
'Internal: SQL text of a subquery (parameters $1 loser keys, $2 survivor keys, text[]) with one row (survivor_id, '
'loser_id, new_ref: key texts; cycle boolean) per survivor whose self-referencing FK column p_fk_column points at '
'one of its own '
'losers: new_ref is the loser''s own reference (followed through losers of the same cluster, mapped to the survivor '
'of another cluster); cycle is true when that chain leads back to the survivor or loops among the losers.';

REVOKE EXECUTE ON FUNCTION mlops.merge_hierarchy_sql(regclass, text, text) FROM PUBLIC;
