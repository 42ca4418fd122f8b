-- mlops.dedup_signatures_store: keeps what a detection pass computed for the next incremental run: after a full pass
-- every row's signatures replace the table's; after an incremental one the changed rows' are added (their old ones
-- were removed before probing). The state is marked incomplete until the run's end (mlops.dedup_state_finish): a
-- run that stops in between leaves clusters unmerged that no later probe would see, so the next run is a full pass.

CREATE OR REPLACE FUNCTION mlops.dedup_signatures_store(p_target regclass, p_full boolean, p_fingerprint text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- JIT compiles for a second what runs in milliseconds (scratch tables' row estimates are rough)
SET jit = off
AS $$
DECLARE
    v_stored bigint;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_dedup_sigs (id bigint, key text, kind "char", sig bigint, n integer)';
    IF p_full THEN
        DELETE FROM mlops.dedup_signatures AS s WHERE s.target = p_target;
    END IF;
    INSERT INTO mlops.dedup_signatures (target, key, kind, sig, n)
    -- in index order: the probe index takes them as appended pages
    SELECT p_target, f.key, f.kind, f.sig, f.n FROM pg_temp.mlops_dedup_sigs AS f ORDER BY f.kind, f.sig;
    GET DIAGNOSTICS v_stored = ROW_COUNT;
    -- a table's signatures replaced: the planner must know them before the run's end probes them
    IF p_full AND v_stored >= 1000 THEN
        PERFORM mlops.dedup_signatures_analyze();
    END IF;
    INSERT INTO mlops.dedup_state AS s (target, fingerprint, complete)
    VALUES (p_target, p_fingerprint, false)
    ON CONFLICT (target) DO UPDATE
    SET fingerprint = excluded.fingerprint, complete = false, updated_at = now(),
        built_at = CASE WHEN p_full THEN now() ELSE s.built_at END;
    RETURN v_stored;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_signatures_store(regclass, boolean, text) IS
'Internal helper of mlops.dedup_detect: stores pg_temp.mlops_dedup_sigs (mlops.dedup_signatures_make) in '
'mlops.dedup_signatures for p_target, replacing all of the table''s when p_full, and records p_fingerprint (the '
'rule''s) in mlops.dedup_state with complete = false until mlops.dedup_state_finish. Returns the number of '
'signatures stored.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_signatures_store(regclass, boolean, text) FROM PUBLIC;
