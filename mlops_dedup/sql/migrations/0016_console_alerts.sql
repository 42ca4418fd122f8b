-- The web console's history and alerts: merges know their run (undo of a whole run), each run stores a snapshot of
-- the data-quality metrics (trends), alert rules raise rows in mlops.alerts (and NOTIFY mlops_dedup_alerts), and the
-- console's actions are logged (who, when).

-- 1. The run a merge belongs to. merge_duplicates sets it (a transaction-local setting, mlops.run_id, read by the
--    column default); merges made before carry it in their reason ('dedup run 12: ...').
ALTER TABLE mlops."merges"  -- noqa: RF06
ADD COLUMN run_id bigint DEFAULT nullif(pg_catalog.current_setting('mlops.run_id', TRUE), '')::bigint;

COMMENT ON COLUMN mlops.merges.run_id IS
'The mlops.dedup_runs run that made this merge (NULL for merges made by merge_rows / merge_clusters directly). '
'Conflict merges inside a merge carry their parent''s run.';

UPDATE mlops."merges"  -- noqa: RF06
SET run_id = substring(reason FROM '^dedup run ([0-9]{1,18}):')::bigint
WHERE reason ~ '^dedup run [0-9]{1,18}:';

CREATE INDEX merges_run_id_idx ON mlops."merges" (run_id)  -- noqa: RF06
WHERE run_id IS NOT NULL;

-- 2. Metric snapshots: one row per run (and per on-demand check) and table.
CREATE TABLE mlops.metric_snapshots (
    snapshot_id bigint GENERATED ALWAYS AS IDENTITY,
    run_id bigint,
    target regclass NOT NULL,
    taken_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    taken_by name NOT NULL DEFAULT current_user,
    run_status text,
    run_seconds double precision,
    rows_merged bigint,
    duplicate_rate double precision,
    live_rows bigint,
    soft_deleted_rows bigint,
    exact_key_duplicate_groups bigint,
    references_to_merged_rows bigint,
    fks_without_index bigint,
    fks_blocking_deletes bigint,
    missing_fk_partitions bigint,
    undeclared_references bigint,
    pending_reviews bigint NOT NULL,
    oldest_pending_review_seconds double precision,
    CONSTRAINT metric_snapshots_pkey PRIMARY KEY (snapshot_id),
    CONSTRAINT metric_snapshots_duplicate_rate_check CHECK (duplicate_rate >= 0 AND duplicate_rate <= 1)
);

CREATE INDEX metric_snapshots_target_taken_at_idx ON mlops.metric_snapshots (target, taken_at);
CREATE INDEX metric_snapshots_run_id_idx ON mlops.metric_snapshots (run_id) WHERE run_id IS NOT NULL;

COMMENT ON TABLE mlops.metric_snapshots IS
'History of the data-quality metrics: one row per table at the end of each real run of merge_duplicates (run_id '
'set) and per on-demand check (mlops.record_metrics / mlops.check_alerts; run_id NULL). Columns of '
'mlops.data_quality (counts, bigint), plus the run''s status, duration (seconds) and rows merged, the duplicate rate '
'(rows merged by the run / (rows merged + live rows after it), 0-1; NULL without a run), pending review pairs and '
'the age of the oldest (seconds). Read by the web console''s dashboard.';

ALTER TABLE mlops.metric_snapshots ENABLE ROW LEVEL SECURITY;

CREATE POLICY metric_snapshots_readable_target ON mlops.metric_snapshots FOR SELECT
USING (coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));

CREATE POLICY metric_snapshots_taken_by_reader ON mlops.metric_snapshots FOR INSERT
WITH CHECK (coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE) AND taken_by = current_user);

COMMENT ON POLICY metric_snapshots_readable_target ON mlops.metric_snapshots IS
'A role sees the snapshots of tables it may read.';
COMMENT ON POLICY metric_snapshots_taken_by_reader ON mlops.metric_snapshots IS
'A role records snapshots of tables it may read, in its own name.';

-- 3. Alerts.
CREATE TABLE mlops.alert_settings (
    kind text NOT NULL,
    enabled boolean NOT NULL DEFAULT TRUE,
    threshold double precision,
    description text NOT NULL,
    CONSTRAINT alert_settings_pkey PRIMARY KEY (kind)
);

COMMENT ON TABLE mlops.alert_settings IS
'The alert rules mlops.check_alerts evaluates, one row per kind: enabled, and the limit where the kind has one '
'(duplicate_rate: a proportion 0-1 of the table merged by one run; review_queue_age: seconds).';

INSERT INTO mlops.alert_settings (kind, threshold, description) VALUES
('run_failed', NULL, 'A merge_duplicates run failed as a whole (its rule did not run to the end).'),
('run_partial', NULL, 'A run finished but left clusters or steps undone (recorded failures, lock timeouts).'),
(
    'merge_refused', NULL,
    'A merge was refused on a constraint (SQLSTATE class 23: foreign key, unique, exclusion, check, not null): '
    'the foreign-key violation the incident started with.'
),
('duplicate_rate', 0.05, 'One run merged more than this proportion (0-1) of its table.'),
(
    'references_to_merged_rows', NULL,
    'Rows still reference soft-deleted merged rows (they are re-pointed by the next run).'
),
(
    'new_fk_blocks_delete', NULL,
    'A foreign key into a rule''s table, added since the last check, blocks deletes (NO ACTION / RESTRICT).'
),
(
    'new_fk_unindexed', NULL,
    'A foreign key into a rule''s table, added since the last check, has no index on its referencing columns.'
),
('review_queue_age', 604800, 'The oldest pending review pair is older than this many seconds.');

CREATE TABLE mlops.alerts (
    alert_id bigint GENERATED ALWAYS AS IDENTITY,
    kind text NOT NULL,
    severity text NOT NULL,
    target regclass,
    run_id bigint,
    fingerprint text NOT NULL,
    message text NOT NULL,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb,
    raised_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    raised_by name NOT NULL DEFAULT current_user,
    resolved_at timestamptz,
    resolved_by name,
    delivered_at timestamptz,
    delivery_error text,
    CONSTRAINT alerts_pkey PRIMARY KEY (alert_id),
    CONSTRAINT alerts_kind_fkey FOREIGN KEY (kind) REFERENCES mlops.alert_settings (kind),
    CONSTRAINT alerts_severity_check CHECK (severity IN ('critical', 'warning'))
);

-- one open alert per fingerprint (a run's failure, a table's condition, a foreign key)
CREATE UNIQUE INDEX alerts_fingerprint_key ON mlops.alerts (fingerprint) WHERE resolved_at IS NULL;
CREATE INDEX alerts_raised_at_idx ON mlops.alerts (raised_at);
CREATE INDEX alerts_undelivered_idx ON mlops.alerts (alert_id) WHERE delivered_at IS NULL;

COMMENT ON TABLE mlops.alerts IS
'Alerts raised by mlops.check_alerts (at the end of every merge_duplicates run, and on demand): kind (a row of '
'mlops.alert_settings), severity (critical / warning), the table and run concerned, message, detail (jsonb), when and '
'by whom raised; resolved_at when the condition cleared (checked again) or a person resolved it '
'(mlops.resolve_alert); delivered_at when runner.py watch posted it to its webhook. Each new alert is also sent on '
'channel mlops_dedup_alerts (NOTIFY, payload: the row as JSON without detail).';

ALTER TABLE mlops.alerts ENABLE ROW LEVEL SECURITY;

CREATE POLICY alerts_readable_target ON mlops.alerts FOR SELECT
USING (target IS NULL OR coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));

CREATE POLICY alerts_raised_by_reader ON mlops.alerts FOR INSERT
WITH CHECK (
    (target IS NULL OR coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE))
    AND raised_by = current_user
);

CREATE POLICY alerts_handled_by_reader ON mlops.alerts FOR UPDATE
USING (target IS NULL OR coalesce(pg_catalog.has_table_privilege(target, 'SELECT'), FALSE));

COMMENT ON POLICY alerts_readable_target ON mlops.alerts IS
'A role sees alerts about tables it may read, and alerts about no table.';
COMMENT ON POLICY alerts_raised_by_reader ON mlops.alerts IS
'A role raises alerts about tables it may read, in its own name.';
COMMENT ON POLICY alerts_handled_by_reader ON mlops.alerts IS
'A role resolves, and marks delivered, alerts it can see.';

-- What each check saw: the foreign keys into the rules' tables (a key not seen by the last check is new) and the
-- last run it looked at (later checks alert runs after it).
CREATE TABLE mlops.alert_checks (
    check_id bigint GENERATED ALWAYS AS IDENTITY,
    checked_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    checked_by name NOT NULL DEFAULT current_user,
    last_run_id bigint,
    alerts_raised integer NOT NULL DEFAULT 0,
    alerts_resolved integer NOT NULL DEFAULT 0,
    CONSTRAINT alert_checks_pkey PRIMARY KEY (check_id)
);

COMMENT ON TABLE mlops.alert_checks IS
'One row per evaluation of the alert rules (mlops.check_alerts): when, by whom, the newest run it had seen, alerts '
'raised and resolved.';

CREATE TABLE mlops.alert_known_fks (
    constraint_oid oid NOT NULL,
    constraint_name text NOT NULL,
    referencing_table regclass NOT NULL,
    target regclass NOT NULL,
    first_seen_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    CONSTRAINT alert_known_fks_pkey PRIMARY KEY (constraint_oid)
);

COMMENT ON TABLE mlops.alert_known_fks IS
'The foreign keys into the rules'' tables that the last alert check saw; a key missing here at the next check is '
'new (alerts new_fk_blocks_delete, new_fk_unindexed). The first check records them without alerting.';

-- 4. What people did through the web console.
CREATE TABLE mlops.console_actions (
    action_id bigint GENERATED ALWAYS AS IDENTITY,
    action text NOT NULL,  -- noqa: RF04
    target regclass,
    object_id text,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb,
    succeeded boolean NOT NULL,
    acted_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    acted_by name NOT NULL DEFAULT current_user,
    client text,
    CONSTRAINT console_actions_pkey PRIMARY KEY (action_id)
);

CREATE INDEX console_actions_acted_at_idx ON mlops.console_actions (acted_at);

COMMENT ON TABLE mlops.console_actions IS
'Log of the web console''s actions (review decisions, undo of a merge or a run, alert checks and resolutions, '
'refused logins): action, table, object (candidate, merge, run or alert id), detail (jsonb: the result or the '
'error''s SQLSTATE and message), whether it succeeded, when, the database role that acted (acted_by, always the '
'inserting role) and the client''s address.';

ALTER TABLE mlops.console_actions ENABLE ROW LEVEL SECURITY;

CREATE POLICY console_actions_readable ON mlops.console_actions FOR SELECT USING (TRUE);

CREATE POLICY console_actions_logged_by_actor ON mlops.console_actions FOR INSERT
WITH CHECK (acted_by = current_user);

COMMENT ON POLICY console_actions_readable ON mlops.console_actions IS
'Every role granted SELECT reads the whole log.';
COMMENT ON POLICY console_actions_logged_by_actor ON mlops.console_actions IS
'A role logs actions in its own name only.';
