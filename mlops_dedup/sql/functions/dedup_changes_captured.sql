-- mlops.dedup_changes_captured: whether a table's changes are being captured for incremental detection: its four
-- capture triggers exist, name the table's key column, and are enabled. Detection trusts the change queue only
-- then; mlops.dedup_track_changes (re)creates the triggers otherwise.

CREATE OR REPLACE FUNCTION mlops.dedup_changes_captured(p_target regclass)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT count(*) = 4 AND count(DISTINCT t.tgtype) = 4
        FROM pg_catalog.pg_trigger AS t
        WHERE t.tgrelid = p_target
            AND t.tgfoid = 'mlops.dedup_capture_changes()'::pg_catalog.regprocedure
            AND t.tgname IN (
                'mlops_dedup_capture_insert', 'mlops_dedup_capture_update', 'mlops_dedup_capture_delete',
                'mlops_dedup_capture_truncate'
            )
            -- fires in ordinary sessions ('O') or always ('A'), not disabled ('D') or replica-only ('R')
            AND t.tgenabled IN ('O', 'A')
            AND t.tgnargs = 1
            AND t.tgargs = pg_catalog.convert_to(mlops.key_column(p_target), 'UTF8') || '\x00'::bytea
    );
END;
$$;

COMMENT ON FUNCTION mlops.dedup_changes_captured(regclass) IS
'Internal: true when the table''s four capture triggers (mlops_dedup_capture_{insert,update,delete,truncate}, '
'function mlops.dedup_capture_changes) exist, are enabled (not disabled or replica-only) and name the current key '
'column (mlops.key_column; 0A000 for a table without a single-column primary key). Read by mlops.dedup_detect and '
'mlops.dedup_track_changes.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_changes_captured(regclass) FROM PUBLIC;
