-- A run the caller cancelled (Ctrl-C, pg_cancel_backend) is recorded 'cancelled', not 'failed': nothing went wrong
-- with the data, and no run_failed alert is raised for it. A statement_timeout stays a failure.
ALTER TABLE mlops.dedup_runs DROP CONSTRAINT dedup_runs_status_check;
ALTER TABLE mlops.dedup_runs ADD CONSTRAINT dedup_runs_status_check
CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'cancelled', 'skipped'));

-- Which program recorded the run (the session's application_name when the run began): a scheduler's task that sets
-- one before its CALL (the Airflow example: SET application_name = 'mlops-dedup <hash of the DAG run>') finds its runs
-- again from another task, where backend_pid no longer tells.
ALTER TABLE mlops.dedup_runs ADD COLUMN application_name text DEFAULT pg_catalog.current_setting('application_name');

COMMENT ON COLUMN mlops.dedup_runs.application_name IS
'The application_name of the session that recorded the run, when it began (its default; NULL for runs recorded '
'before). Set by the client (libpq application_name, or SET application_name); at most 63 bytes. Provenance, not '
'proof: any session may choose any name (run_by is the role).';
