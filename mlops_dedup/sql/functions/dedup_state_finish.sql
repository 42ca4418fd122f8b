-- mlops.dedup_state_finish: the end of an incremental run. The changes the run read are consumed. Rows of clusters
-- the run did not merge (failed, left on locks, changed, skipped) go back into the change queue, so the next run
-- probes them again: the stored state assumes that rows not queued have no strong match among each other. The
-- losers merged away lose their signatures now, and the queue entries their own deletion made are consumed, so the
-- next run does not redo them. Then the state is marked complete.

CREATE OR REPLACE FUNCTION mlops.dedup_state_finish(p_target regclass, p_succeeded boolean)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for a second what runs in milliseconds (scratch tables' row estimates are rough)
SET jit = off
AS $$
DECLARE
    v_live text := 'true';
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_changed (row_ctid tid, key text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_removed (sig bigint, n bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_work (seq bigint, batch_no bigint, why text, cluster_id bigint,'
        ' survivor_id bigint, member_id bigint, score real, rnk bigint, status text, sqlstate text,'
        ' survivor_key text, member_key text)';
    -- not an incremental run (dry, full without state, not tracked): nothing was stored
    IF to_regclass('pg_temp.mlops_dedup_changed') IS NULL
        OR NOT EXISTS (SELECT FROM mlops.dedup_state AS s WHERE s.target = p_target) THEN
        RETURN;
    END IF;
    IF NOT p_succeeded THEN
        -- the rule failed after detection stored its state: the state stays incomplete, the next run is full
        RETURN;
    END IF;
    -- The changes this run read, first: only this run (it holds the table's lock) removes this table's entries, so
    -- their places cannot have been reused since it read them; the target and key are compared too.
    DELETE FROM mlops.dedup_changes AS c
    USING pg_temp.mlops_dedup_changed AS x
    WHERE c.ctid = x.row_ctid AND c.target = p_target AND c.key IS NOT DISTINCT FROM x.key;
    IF to_regclass('pg_temp.mlops_dedup_work') IS NOT NULL THEN
        INSERT INTO mlops.dedup_changes (target, key)
        SELECT DISTINCT p_target, k.key
        FROM pg_temp.mlops_dedup_work AS w
        CROSS JOIN LATERAL (VALUES (w.survivor_key), (w.member_key)) AS k (key)
        WHERE w.status <> 'merged';
        IF EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = p_target AND a.attname = 'deleted_at' AND NOT a.attisdropped
        ) THEN
            v_live := 't.deleted_at IS NULL';
        END IF;
        IF to_regclass('pg_temp.mlops_dedup_removed') IS NOT NULL THEN
            DROP TABLE pg_temp.mlops_dedup_removed;
        END IF;
        CREATE TEMP TABLE mlops_dedup_removed AS
        WITH gone AS (
            DELETE FROM mlops.dedup_signatures AS s
            WHERE s.target = p_target AND s.key = ANY (ARRAY(
                SELECT w.member_key FROM pg_temp.mlops_dedup_work AS w WHERE w.status = 'merged'
            ))
            RETURNING s.kind, s.sig
        )
        SELECT g.sig, count(*) AS n FROM gone AS g WHERE g.kind = 's' GROUP BY g.sig;
        -- sentences the merged rows shared with more rows than the cap, and no longer: their rows pair again
        PERFORM mlops.dedup_signatures_uncapped(p_target, 100, false);  -- the cap of mlops.dedup_detect
        -- the queue entries the merges' own deletes and soft deletes made, for rows still gone now
        EXECUTE format(
            'DELETE FROM mlops.dedup_changes AS c USING pg_temp.mlops_dedup_work AS w'
            ' WHERE c.target = $1 AND c.key = w.member_key AND w.status = ''merged'''
            ' AND NOT EXISTS (SELECT FROM %s AS t WHERE %s AND %s)',
            p_target, mlops.key_match_sql(p_target, 't', 'w.member_key', false), v_live
        ) USING p_target;
    END IF;
    UPDATE mlops.dedup_state AS s SET complete = true, updated_at = now() WHERE s.target = p_target;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_state_finish(regclass, boolean) IS
'Internal helper of mlops.merge_duplicates, at the end of a run that stored signatures (mlops.dedup_detect): when '
'p_succeeded, queues the keys of clusters left unmerged in pg_temp.mlops_dedup_work (so the next run probes them '
'again), removes the signatures of the rows merged away and the queue entries their removal made, consumes the '
'changes the run read (pg_temp.mlops_dedup_changed) and marks mlops.dedup_state complete; otherwise leaves the '
'state incomplete, so the next run is a full pass.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_state_finish(regclass, boolean) FROM PUBLIC;
