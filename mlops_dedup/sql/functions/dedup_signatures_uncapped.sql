-- mlops.dedup_signatures_uncapped: a sentence (or word pair) shared by more rows than the cap is boilerplate and
-- pairs no one; when rows holding it go (deleted, changed, merged away) and the count falls back to the cap, the
-- rows still holding it pair on it in a full pass. Those rows (at most the cap, per such sentence) must be compared
-- again: during detection they join the changed rows (their stored signatures moved to the run's own), at the end of
-- a run they are queued for the next one.

CREATE OR REPLACE FUNCTION mlops.dedup_signatures_uncapped(p_target regclass, p_df_cap integer, p_now boolean)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
SET jit = off
AS $$
DECLARE
    v_rows bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_removed (sig bigint, n bigint)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_sigs (id bigint, key text, kind "char", sig bigint, n integer)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_uncapped (key text)';
    PERFORM 'PRAGMA:TABLE: mlops_dedup_added (sig bigint, n bigint)';
    IF to_regclass('pg_temp.mlops_dedup_uncapped') IS NOT NULL THEN
        DROP TABLE pg_temp.mlops_dedup_uncapped;
    END IF;
    CREATE TEMP TABLE mlops_dedup_uncapped (key text NOT NULL);
    IF NOT EXISTS (SELECT FROM pg_temp.mlops_dedup_removed) THEN
        RETURN 0;
    END IF;
    -- the run's own rows holding each removed token (p_now: the changed rows' new signatures)
    IF p_now THEN
        CREATE TEMP TABLE mlops_dedup_added AS
        SELECT r.sig, count(f.sig) AS n
        FROM pg_temp.mlops_dedup_removed AS r
        LEFT JOIN pg_temp.mlops_dedup_sigs AS f ON f.kind = 's' AND f.sig = r.sig
        GROUP BY r.sig;
    ELSE
        CREATE TEMP TABLE mlops_dedup_added AS SELECT r.sig, 0::bigint AS n FROM pg_temp.mlops_dedup_removed AS r;
    END IF;
    -- stored rows left holding each (read up to the cap + 1, by index: one probe per token)
    INSERT INTO pg_temp.mlops_dedup_uncapped (key)
    SELECT DISTINCT h.key
    FROM pg_temp.mlops_dedup_removed AS r
    INNER JOIN pg_temp.mlops_dedup_added AS a ON a.sig = r.sig
    CROSS JOIN LATERAL (
        SELECT count(*) AS n FROM (
            SELECT FROM mlops.dedup_signatures AS s
            WHERE s.target = p_target AND s.kind = 's' AND s.sig = r.sig
            LIMIT p_df_cap + 1
        ) AS x
    ) AS c
    CROSS JOIN LATERAL (
        SELECT s.key FROM mlops.dedup_signatures AS s
        WHERE s.target = p_target AND s.kind = 's' AND s.sig = r.sig
        LIMIT p_df_cap
    ) AS h
    WHERE c.n + r.n > p_df_cap AND c.n + a.n BETWEEN 2 AND p_df_cap;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    DROP TABLE pg_temp.mlops_dedup_added;
    IF v_rows = 0 THEN
        RETURN 0;
    END IF;
    IF p_now THEN
        WITH moved AS (
            DELETE FROM mlops.dedup_signatures AS s
            WHERE s.target = p_target AND s.key = ANY (ARRAY(SELECT u.key FROM pg_temp.mlops_dedup_uncapped AS u))
            RETURNING s.key, s.kind, s.sig, s.n
        )
        INSERT INTO pg_temp.mlops_dedup_sigs (id, key, kind, sig, n)
        SELECT NULL, m.key, m.kind, m.sig, m.n FROM moved AS m;
    ELSE
        INSERT INTO mlops.dedup_changes (target, key) SELECT p_target, u.key FROM pg_temp.mlops_dedup_uncapped AS u;
    END IF;
    RETURN v_rows;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_signatures_uncapped(regclass, integer, boolean) IS
'Internal helper of incremental detection: pg_temp.mlops_dedup_removed (sig bigint, n bigint) lists the sentence '
'tokens (kind s) just removed from mlops.dedup_signatures for p_target and how many; for each whose count of rows '
'fell from over p_df_cap to 2..p_df_cap (counting, with p_now, the run''s own new signatures in '
'pg_temp.mlops_dedup_sigs), the rows still holding it are compared again: with p_now their stored signatures move '
'into pg_temp.mlops_dedup_sigs (detection probes them with the changed rows), otherwise their keys are queued in '
'mlops.dedup_changes for the next run. Returns the number of such rows.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_signatures_uncapped(regclass, integer, boolean) FROM PUBLIC;
