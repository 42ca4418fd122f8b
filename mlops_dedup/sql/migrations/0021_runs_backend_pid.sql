-- The session that recorded a run (its backend's process id, from the default): a caller finds exactly the runs of
-- its own CALL (runner.merge), not another session's that started meanwhile.
ALTER TABLE mlops.dedup_runs ADD COLUMN backend_pid integer DEFAULT pg_catalog.pg_backend_pid();

COMMENT ON COLUMN mlops.dedup_runs.backend_pid IS
'The process id of the backend that recorded the run (pg_backend_pid(), its default; NULL for runs recorded before). '
'While that session lives no other has the same id: runs with run_id above the caller''s last one and its own '
'backend_pid are the runs of its CALL.';
