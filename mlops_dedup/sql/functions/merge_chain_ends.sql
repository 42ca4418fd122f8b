-- mlops.merge_chain_ends: where rows named by old keys live now, for many keys in one statement: each key follows
-- the merges (not undone, recorded by roles with the caller's rights) that took it, loser to survivor, to the end.
-- The one walk of the merge log that resolve_id and the re-pointing of references to soft-deleted rows share.

CREATE OR REPLACE FUNCTION mlops.merge_chain_ends(p_target regclass, p_keys text[])
RETURNS TABLE (key text, live_key text)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_keys text[];
    v_ends text[];
    v_live text[];
BEGIN
    -- Keys are the log's canonical texts, found by text in mlops.merge_losers (one btree probe per step, newest
    -- merge first, whatever the size of the log); the walk is static SQL (planned once). A chain is at most as long
    -- as the number of merges; the bound only guards against a corrupted log.
    WITH RECURSIVE walk (key, cur, depth) AS (
        SELECT DISTINCT k.key, k.key, 0 FROM unnest(p_keys) AS k (key) WHERE k.key IS NOT NULL
        UNION ALL
        SELECT w.key, n.survivor_key, w.depth + 1
        FROM walk AS w
        CROSS JOIN LATERAL (
            -- the latest such merge not undone; the merge row itself is the record (its table, its loser_keys)
            SELECT m.survivor_key
            FROM mlops.merge_losers AS l
            INNER JOIN mlops.merges AS m ON m.merge_id = l.merge_id
            WHERE l.target = p_target AND l.loser_key = w.cur
                AND m.target = l.target AND l.loser_key = ANY (m.loser_keys) AND m.undone_at IS NULL
                -- a less privileged role's record does not steer this one
                AND mlops.merge_log_trusted(m.merged_by)
            ORDER BY l.merge_id DESC
            LIMIT 1
        ) AS n
        WHERE n.survivor_key IS NOT NULL AND w.depth < 10000
    )
    SELECT array_agg(e.key ORDER BY e.key), array_agg(e.cur ORDER BY e.key) INTO v_keys, v_ends
    FROM (SELECT DISTINCT ON (w.key) w.key, w.cur FROM walk AS w ORDER BY w.key, w.depth DESC) AS e;
    -- the ends that a row holds, compared with the key's own equality
    EXECUTE format(
        'SELECT array_agg(CASE WHEN EXISTS (SELECT FROM %s AS t WHERE %s) THEN e.cur END ORDER BY e.ord)'
        ' FROM unnest($1::text[]) WITH ORDINALITY AS e (cur, ord)',
        p_target, mlops.key_match_sql(p_target, 't', 'e.cur', false)
    ) INTO v_live USING v_ends;
    RETURN QUERY SELECT u.k, u.l FROM unnest(v_keys, v_live) AS u (k, l);
END;
$$;

COMMENT ON FUNCTION mlops.merge_chain_ends(regclass, text[]) IS
'Internal: for each distinct key of p_keys (canonical key texts of the table, as the merge log writes them), '
'(key text, live_key text): the key of the row it lives under now, following merges (not undone, recorded by roles '
'with the caller''s rights: mlops.merge_log_trusted) from loser to survivor, chains included; the key itself when '
'never merged; NULL when that row does not exist. Keys are followed by text: callers compare values first where '
'equal keys can print differently (mlops.key_text_is_canonical). Raises 0A000 for a table without a single-column '
'primary key.';

REVOKE EXECUTE ON FUNCTION mlops.merge_chain_ends(regclass, text[]) FROM PUBLIC;
