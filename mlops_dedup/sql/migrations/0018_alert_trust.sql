-- Alerts, snapshots and the console's log can be trusted: rows about a table are written, resolved and marked
-- delivered only by roles that may change that table (a reader can neither raise, hide nor suppress them), a run's
-- merges are attached to it only by the role running it, and each run is checked for alerts once, by run, not by a
-- high-water mark.

-- 1. Who runs a run (never set by the caller: not in the INSERT grant); merges may name only their own running run.
ALTER TABLE mlops.dedup_runs ADD COLUMN run_by name DEFAULT current_user;

COMMENT ON COLUMN mlops.dedup_runs.run_by IS
'The role that ran the run (its default; NULL for runs recorded before this column). Only that role''s merges can '
'carry the run''s id (mlops.merges.run_id, checked by the trigger merges_check_run).';

-- 2. The runs the alert rules have looked at: a run not here is checked by the next check of a role that may change
--    its table (the run's own CALL, runner.py watch --check-every, the console's Check now).
CREATE TABLE mlops.alert_checked_runs (
    run_id bigint NOT NULL,
    target regclass NOT NULL,
    checked_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    checked_by name NOT NULL DEFAULT current_user,
    CONSTRAINT alert_checked_runs_pkey PRIMARY KEY (run_id)
);

COMMENT ON TABLE mlops.alert_checked_runs IS
'The runs whose alerts (run_failed, run_partial, merge_refused, duplicate_rate) were evaluated: run_id, its table, '
'when and by whom. Runs recorded before the alerts existed are entered here as checked.';

INSERT INTO mlops.alert_checked_runs (run_id, target, checked_at, checked_by)
SELECT
    u.run_id,
    u.target,
    coalesce(u.finished_at, u.started_at) AS checked_at,
    current_user AS checked_by
FROM mlops.dedup_runs AS u;

ALTER TABLE mlops.alert_checked_runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY alert_checked_runs_readable_target ON mlops.alert_checked_runs FOR SELECT
USING (coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));

CREATE POLICY alert_checked_runs_checked_by_merger ON mlops.alert_checked_runs FOR INSERT
WITH CHECK (
    coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE)
    AND checked_by = current_user
    AND EXISTS (
        SELECT FROM mlops.dedup_runs AS u
        WHERE u.run_id = alert_checked_runs.run_id AND u.target = alert_checked_runs.target
    )
);

COMMENT ON POLICY alert_checked_runs_readable_target ON mlops.alert_checked_runs IS
'A role sees the checked runs of tables it may read.';
COMMENT ON POLICY alert_checked_runs_checked_by_merger ON mlops.alert_checked_runs IS
'A role marks checked only runs of tables it may change, in its own name.';

-- 3. Snapshots: taken by roles that may change the table (a reader could otherwise write counts that resolve alerts).
DROP POLICY metric_snapshots_taken_by_reader ON mlops.metric_snapshots;

CREATE POLICY metric_snapshots_taken_by_merger ON mlops.metric_snapshots FOR INSERT
WITH CHECK (coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE) AND taken_by = current_user);

COMMENT ON POLICY metric_snapshots_taken_by_merger ON mlops.metric_snapshots IS
'A role records snapshots of tables it may change, in its own name.';

-- 4. Alerts: always about a table; raised, resolved and marked delivered by roles that may change it; one open
--    alert per table and fingerprint (a fingerprint written for another table suppresses nothing).
ALTER TABLE mlops.alerts ALTER COLUMN target SET NOT NULL;

DROP POLICY alerts_readable_target ON mlops.alerts;
DROP POLICY alerts_raised_by_reader ON mlops.alerts;
DROP POLICY alerts_handled_by_reader ON mlops.alerts;

CREATE POLICY alerts_readable_target ON mlops.alerts FOR SELECT
USING (coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));

CREATE POLICY alerts_raised_by_merger ON mlops.alerts FOR INSERT
WITH CHECK (coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE) AND raised_by = current_user);

CREATE POLICY alerts_handled_by_merger ON mlops.alerts FOR UPDATE
USING (coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE));

COMMENT ON POLICY alerts_readable_target ON mlops.alerts IS
'A role sees the alerts about tables it may read.';
COMMENT ON POLICY alerts_raised_by_merger ON mlops.alerts IS
'A role raises alerts about tables it may change, in its own name.';
COMMENT ON POLICY alerts_handled_by_merger ON mlops.alerts IS
'A role resolves, and marks delivered, alerts about tables it may change (resolved_by is stamped by a trigger).';

DROP INDEX mlops.alerts_fingerprint_key;
CREATE UNIQUE INDEX alerts_target_fingerprint_key ON mlops.alerts (target, fingerprint) WHERE resolved_at IS NULL;
ALTER INDEX mlops.alerts_undelivered_idx RENAME TO alerts_alert_id_undelivered_idx;

-- 5. The foreign keys seen, per rule's table: a table's first check records them (nothing about it is new then).
ALTER TABLE mlops.alert_known_fks DROP CONSTRAINT alert_known_fks_pkey;
-- unnamed: PostgreSQL names it alert_known_fks_pkey again (the installer reads a named one as a new object)
ALTER TABLE mlops.alert_known_fks ADD PRIMARY KEY (target, constraint_oid);

CREATE TABLE mlops.alert_watched_tables (
    target regclass NOT NULL,
    watched_since timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT alert_watched_tables_pkey PRIMARY KEY (target)
);

COMMENT ON TABLE mlops.alert_watched_tables IS
'The rules'' tables whose foreign keys an alert check has recorded (in mlops.alert_known_fks) since watched_since: a '
'key into such a table that is not recorded is new. A table''s first check only records its keys.';

INSERT INTO mlops.alert_watched_tables (target)
SELECT DISTINCT k.target FROM mlops.alert_known_fks AS k;

ALTER TABLE mlops.alert_known_fks ENABLE ROW LEVEL SECURITY;
ALTER TABLE mlops.alert_watched_tables ENABLE ROW LEVEL SECURITY;

CREATE POLICY alert_known_fks_readable_target ON mlops.alert_known_fks FOR SELECT
USING (coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));
CREATE POLICY alert_known_fks_recorded_by_merger ON mlops.alert_known_fks FOR INSERT
WITH CHECK (coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE));
CREATE POLICY alert_known_fks_forgotten_by_merger ON mlops.alert_known_fks FOR DELETE
USING (coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE));
CREATE POLICY alert_watched_tables_readable_target ON mlops.alert_watched_tables FOR SELECT
USING (coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));
CREATE POLICY alert_watched_tables_recorded_by_merger ON mlops.alert_watched_tables FOR INSERT
WITH CHECK (coalesce(pg_catalog.has_table_privilege(target, 'UPDATE'), FALSE));

COMMENT ON POLICY alert_known_fks_readable_target ON mlops.alert_known_fks IS
'A role sees the recorded keys into tables it may read.';
COMMENT ON POLICY alert_known_fks_recorded_by_merger ON mlops.alert_known_fks IS
'A role records keys into tables it may change.';
COMMENT ON POLICY alert_known_fks_forgotten_by_merger ON mlops.alert_known_fks IS
'A role forgets dropped keys into tables it may change.';
COMMENT ON POLICY alert_watched_tables_readable_target ON mlops.alert_watched_tables IS
'A role sees which tables it may read are watched.';
COMMENT ON POLICY alert_watched_tables_recorded_by_merger ON mlops.alert_watched_tables IS
'A role starts watching tables it may change.';

-- 6. The console's log: a role reads the actions about tables it may read (and those about no table).
DROP POLICY console_actions_readable ON mlops.console_actions;

CREATE POLICY console_actions_readable_target ON mlops.console_actions FOR SELECT
USING (target IS NULL OR coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));

COMMENT ON POLICY console_actions_readable_target ON mlops.console_actions IS
'A role reads the logged actions about tables it may read, and those about no table (logins, checks).';

-- 7. Column comments of the console's tables.
COMMENT ON COLUMN mlops.alerts.fingerprint IS
'What the alert is about, e.g. run_failed:12, review_queue_age:<table oid>, new_fk_unindexed:<constraint oid>: one '
'open alert per table and fingerprint.';
COMMENT ON COLUMN mlops.alerts.detail IS
'The evidence, by kind: the run''s error and SQLSTATE, the refused clusters (up to 20), the rate and its limit, the '
'foreign key and its fix (CREATE INDEX CONCURRENTLY), the queue''s size and age.';
COMMENT ON COLUMN mlops.alerts.delivered_at IS
'When runner.py watch posted it to its webhook (2xx answer); NULL: not yet, or it failed (delivery_error).';
COMMENT ON COLUMN mlops.alerts.delivery_error IS
'Why the last delivery failed (HTTP status or the error''s class; never the webhook''s address).';
COMMENT ON COLUMN mlops.alert_settings.threshold IS
'The kind''s limit: duplicate_rate a proportion 0-1 of the table merged by one run, review_queue_age seconds; NULL '
'for kinds without one.';
COMMENT ON COLUMN mlops.metric_snapshots.duplicate_rate IS
'Rows merged by the run / (rows merged + live rows after it), 0-1; live rows counted when this snapshot measured '
'them, else the planner''s estimate of the table''s rows (pg_class.reltuples, soft-deleted rows included); NULL '
'without a run or when the table was never analyzed.';
COMMENT ON COLUMN mlops.metric_snapshots.live_rows IS
'Counted live rows; NULL when this snapshot did not measure the data-quality counts (an incremental run within the '
'hour of the last measure).';
COMMENT ON COLUMN mlops.console_actions.client IS
'The web client''s address as the console saw it (a proxy''s, behind one).';
