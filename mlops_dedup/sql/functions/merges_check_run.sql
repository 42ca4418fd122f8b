-- mlops.merges_check_run: BEFORE INSERT trigger on mlops.merges. A merge carries a run id (from the transaction-local
-- setting mlops.run_id that merge_duplicates sets) only when that run is running and run by the inserting role: no
-- one attaches merges to someone else's run (its undo, mlops.unmerge_run, would then be refused as a whole).

CREATE OR REPLACE FUNCTION mlops.merges_check_run()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- a merge of the run's table, or a conflict merge inside a merge of that run
    IF NEW.run_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM mlops.dedup_runs AS u
        WHERE u.run_id = NEW.run_id AND u.status = 'running' AND u.run_by = current_user
            AND (
                (NEW.parent_merge_id IS NULL AND u.target = NEW.target)
                OR EXISTS (
                    SELECT FROM mlops.merges AS p WHERE p.merge_id = NEW.parent_merge_id AND p.run_id = NEW.run_id
                )
            )
    ) THEN
        RAISE EXCEPTION 'merge of % names run %, which is not a running merge_duplicates run of that table by role %',
            NEW.target, NEW.run_id, current_user
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'The setting mlops.run_id attaches merges to the run that made them; merge_duplicates sets it.',
            HINT = 'RESET mlops.run_id; (merges made by hand belong to no run).';
    END IF;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.merges_check_run() IS
'Internal: BEFORE INSERT trigger of mlops.merges: a run_id must name a running run of the merge''s table (or of its '
'parent merge) by the inserting role (42501).';

REVOKE EXECUTE ON FUNCTION mlops.merges_check_run() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.merges') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER merges_check_run_trg
        BEFORE INSERT ON mlops.merges
        FOR EACH ROW EXECUTE FUNCTION mlops.merges_check_run();
    END IF;
END;
$$;
