-- Runs are recorded by the role running them: a role may change only its own runs and the runs of tables it may
-- change (merge_duplicates marks an interrupted run of its table failed); so no one fakes a failed or succeeded run
-- of a table it may not merge (the alert rules read the runs).
ALTER TABLE mlops.dedup_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY dedup_runs_readable ON mlops.dedup_runs FOR SELECT USING (TRUE);

CREATE POLICY dedup_runs_recorded_by_runner ON mlops.dedup_runs FOR INSERT
WITH CHECK (run_by = current_user);

CREATE POLICY dedup_runs_updated_by_runner ON mlops.dedup_runs FOR UPDATE
USING (run_by = current_user OR coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE));

COMMENT ON POLICY dedup_runs_readable ON mlops.dedup_runs IS
'Every granted role reads every run (the reports and the console list them).';
COMMENT ON POLICY dedup_runs_recorded_by_runner ON mlops.dedup_runs IS
'A role records runs in its own name (run_by comes from its default).';
COMMENT ON POLICY dedup_runs_updated_by_runner ON mlops.dedup_runs IS
'A role updates its own runs, and the runs of tables it may change.';
