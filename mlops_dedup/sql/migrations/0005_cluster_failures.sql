-- A run always finishes: a cluster that cannot merge is recorded here with its error and skipped, the run goes on
-- (partial), and later runs skip it until its rows or the rule change or a person clears the record. The run record
-- counts clusters that failed, that were skipped as failed before, and whose rows changed since detection.

CREATE TABLE mlops.merge_failures (
    failure_id bigint GENERATED ALWAYS AS IDENTITY,
    run_id bigint NOT NULL,
    target regclass NOT NULL,
    survivor_id bigint NOT NULL,
    loser_ids bigint[] NOT NULL,
    sqlstate text NOT NULL,
    message text NOT NULL,
    detail text,
    hint text,
    rows_fingerprint text NOT NULL,
    rule_fingerprint text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    recorded_by name NOT NULL DEFAULT current_user,
    cleared_at timestamptz,
    cleared_by name,
    cleared_reason text,
    CONSTRAINT merge_failures_pkey PRIMARY KEY (failure_id),
    CONSTRAINT merge_failures_loser_ids_check CHECK (cardinality(loser_ids) > 0),
    CONSTRAINT merge_failures_cleared_check CHECK ((cleared_at IS NULL) = (cleared_by IS NULL))
);

-- runs read the open failures of their table
CREATE INDEX merge_failures_target_idx ON mlops.merge_failures (target) WHERE cleared_at IS NULL;
CREATE INDEX merge_failures_run_id_idx ON mlops.merge_failures (run_id);

COMMENT ON TABLE mlops.merge_failures IS
'One row per cluster a mlops.merge_duplicates run could not merge (any error but a lock timeout or a change of '
'its rows since detection): the error, and fingerprints of the cluster''s rows and of the rule. Later runs skip '
'the cluster while the record is open (cleared_at NULL) and both fingerprints are unchanged; a run that finds them '
'changed, or the cluster no longer detected, clears the record. Clear by hand with mlops.merge_failures_clear().';
COMMENT ON COLUMN mlops.merge_failures.run_id IS
'The mlops.dedup_runs run that recorded it (no FK: written only by that run, like the merge log''s tables).';
COMMENT ON COLUMN mlops.merge_failures.loser_ids IS 'The cluster''s losers, ascending.';
COMMENT ON COLUMN mlops.merge_failures.sqlstate IS 'The error''s SQLSTATE (e.g. 23514).';
COMMENT ON COLUMN mlops.merge_failures.rows_fingerprint IS
'md5 over the cluster''s rows of the target (survivor and losers, as to_jsonb, in id order) when it failed.';
COMMENT ON COLUMN mlops.merge_failures.rule_fingerprint IS
'md5 over the rule''s expressions, thresholds, keep_order, soft_delete and fill_nulls when it failed.';
COMMENT ON COLUMN mlops.merge_failures.cleared_reason IS
'Why the record stopped applying: cleared by hand (with a note), rows changed, rule changed, no longer detected.';

ALTER TABLE mlops.merge_failures ENABLE ROW LEVEL SECURITY;

CREATE POLICY merge_failures_readable_target ON mlops.merge_failures FOR SELECT
USING (pg_catalog.has_table_privilege(target, 'SELECT'));

CREATE POLICY merge_failures_recorded_by_merger ON mlops.merge_failures FOR INSERT
WITH CHECK (pg_catalog.has_table_privilege(target, 'UPDATE'));

CREATE POLICY merge_failures_cleared_by_merger ON mlops.merge_failures FOR UPDATE
USING (pg_catalog.has_table_privilege(target, 'UPDATE'))
WITH CHECK (pg_catalog.has_table_privilege(target, 'UPDATE'));

COMMENT ON POLICY merge_failures_readable_target ON mlops.merge_failures IS
'A role that is not the package owner sees failures (their ids, messages and details) only of tables it may SELECT.';
COMMENT ON POLICY merge_failures_recorded_by_merger ON mlops.merge_failures IS
'Failures are recorded, by the run, only for tables the role may merge (UPDATE).';
COMMENT ON POLICY merge_failures_cleared_by_merger ON mlops.merge_failures IS
'A failure is cleared only by a role that may merge its table (UPDATE): clearing lets the next run try it again.';

ALTER TABLE mlops.dedup_runs
ADD COLUMN clusters_failed bigint NOT NULL DEFAULT 0,
ADD COLUMN clusters_skipped bigint NOT NULL DEFAULT 0,
ADD COLUMN clusters_changed bigint NOT NULL DEFAULT 0,
ADD COLUMN error_sqlstate text;

COMMENT ON COLUMN mlops.dedup_runs.clusters_failed IS
'Clusters this run could not merge, recorded in mlops.merge_failures and skipped.';
COMMENT ON COLUMN mlops.dedup_runs.clusters_skipped IS
'Clusters skipped because an earlier run recorded them failed and neither their rows nor the rule changed since.';
COMMENT ON COLUMN mlops.dedup_runs.clusters_changed IS
'Clusters whose rows changed between detection and merge (a member deleted, merged by hand, soft-deleted): merged '
'without the changed members, or skipped when the survivor changed. Not failures.';
COMMENT ON COLUMN mlops.dedup_runs.error_sqlstate IS 'SQLSTATE of the first error named in error.';
COMMENT ON TABLE mlops.dedup_runs IS
'One row per target per CALL mlops.merge_duplicates(): status, counts, timings, error. partial: some clusters '
'failed (mlops.merge_failures) or kept meeting lock timeouts and were left for the next run; failed: the rule as '
'a whole failed (detection error, timeout, refusal), error says why; skipped: another run held the target.';
