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
    IF to_regclass('pg_temp.mlops_dedup_uncapped') IS NOT NULL THEN
        DROP TABLE pg_temp.mlops_dedup_uncapped;
    END IF;
    -- stored rows left holding each removed token (read up to the cap + 1), and the run's own rows holding it
    CREATE TEMP TABLE mlops_dedup_uncapped AS
    WITH counted AS (
        SELECT r.sig, r.n AS removed, (
            SELECT count(*) FROM (
                SELECT FROM mlops.dedup_signatures AS s
                WHERE s.target = p_target AND s.kind = 's' AND s.sig = r.sig
                LIMIT p_df_cap + 1
            ) AS x
        ) AS stored, CASE WHEN p_now THEN (
            SELECT count(*) FROM pg_temp.mlops_dedup_sigs AS f WHERE f.kind = 's' AND f.sig = r.sig
        ) ELSE 0 END AS added
        FROM pg_temp.mlops_dedup_removed AS r
    )
    SELECT DISTINCT s.key
    FROM counted AS c
    INNER JOIN mlops.dedup_signatures AS s ON s.target = p_target AND s.kind = 's' AND s.sig = c.sig
    WHERE c.stored + c.removed > p_df_cap AND c.stored + c.added BETWEEN 2 AND p_df_cap;
    GET DIAGNOSTICS v_rows = ROW_COUNT;
    IF v_rows = 0 THEN
        RETURN 0;
    END IF;
    IF p_now THEN
        WITH moved AS (
            DELETE FROM mlops.dedup_signatures AS s
            USING pg_temp.mlops_dedup_uncapped AS u
            WHERE s.target = p_target AND s.key = u.key
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
