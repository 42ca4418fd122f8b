-- mlops.dedup_signatures_analyze: the planner's statistics of mlops.dedup_signatures, taken again after a full pass
-- stored a table's signatures. Statistics taken while the table held other rules' signatures only make the planner
-- expect one row for the new table: the end of that table's first run then probed (target, key) once per removed
-- sentence, reading all of its signatures each time (minutes at 100 % CPU on 20k rows). SECURITY DEFINER: ANALYZE
-- needs the table's owner, and the runs are made by granted roles; it takes no argument and analyzes nothing else.
-- A lock held by autovacuum or another session's ANALYZE is not waited for: their statistics come soon enough.

CREATE OR REPLACE FUNCTION mlops.dedup_signatures_analyze()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET lock_timeout = '50ms'
AS $$
BEGIN
    ANALYZE mlops.dedup_signatures;
    RETURN true;
EXCEPTION
    WHEN lock_not_available THEN
        RETURN false;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_signatures_analyze() IS
'Internal helper of incremental detection (mlops.dedup_signatures_store, after a full pass stored 1,000 signatures '
'or more): ANALYZE mlops.dedup_signatures, as its owner (SECURITY DEFINER), so the planner knows the new table''s '
'rows. Returns boolean: false when a lock on the table (autovacuum, another ANALYZE) was not granted within 50 ms '
'and nothing was done.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_signatures_analyze() FROM PUBLIC;
