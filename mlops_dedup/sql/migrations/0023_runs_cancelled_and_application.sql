-- A run the caller cancelled (Ctrl-C, pg_cancel_backend) is recorded 'cancelled', not 'failed': nothing went wrong
-- with the data, and no run_failed alert is raised for it. A statement_timeout stays a failure.
ALTER TABLE mlops.dedup_runs DROP CONSTRAINT dedup_runs_status_check;
ALTER TABLE mlops.dedup_runs ADD CONSTRAINT dedup_runs_status_check
CHECK (status IN ('running', 'succeeded', 'partial', 'failed', 'cancelled', 'skipped'));

-- Which program recorded the run (the session's application_name when the run began): a scheduler's task that sets
-- one before its CALL (the Airflow example: SET application_name = 'mlops-dedup <hash of the DAG run>') finds its runs
-- again from another task, where backend_pid no longer tells. The defaults below are set apart from ADD COLUMN: a
-- default given there is evaluated once, in the installing session, and stored in every existing row.
ALTER TABLE mlops.dedup_runs ADD COLUMN application_name text;
ALTER TABLE mlops.dedup_runs ALTER COLUMN application_name SET DEFAULT pg_catalog.current_setting('application_name');

-- Which CALL recorded the run: one CALL's runs share its start (statement_timestamp() stays the CALL's through the
-- procedure's COMMITs), so two CALLs of one session (a pooled connection handed back to a retried task) tell apart.
ALTER TABLE mlops.dedup_runs ADD COLUMN call_started_at timestamptz;
ALTER TABLE mlops.dedup_runs ALTER COLUMN call_started_at SET DEFAULT pg_catalog.statement_timestamp();

COMMENT ON COLUMN mlops.dedup_runs.call_started_at IS
'When the CALL that recorded the run began (statement_timestamp(), its default; NULL for runs recorded before): with '
'backend_pid it names the CALL, so the runs of one CALL are those sharing both.';

COMMENT ON COLUMN mlops.dedup_runs.application_name IS
'The application_name of the session that recorded the run, when it began (its default; NULL for runs recorded '
'before). Set by the client (libpq application_name, or SET application_name); at most 63 bytes. Provenance, not '
'proof: any session may choose any name (run_by is the role).';

-- 0018 and 0021 gave their defaults in ADD COLUMN: the runs recorded before carry the installing session's role and
-- process id, not NULL as their comments said.
COMMENT ON COLUMN mlops.dedup_runs.run_by IS
'The role that ran the run (its default, current_user). Runs recorded before this column (migration 0018) carry the '
'role that installed it. Only that role''s merges can carry the run''s id (mlops.merges.run_id, checked by the '
'trigger merges_check_run).';
COMMENT ON COLUMN mlops.dedup_runs.backend_pid IS
'The process id of the backend that recorded the run (pg_backend_pid(), its default; runs recorded before migration '
'0021 carry the installing session''s). While that session lives no other has the same id: runs with run_id above '
'the caller''s last one and its own backend_pid are the runs of its CALL.';
