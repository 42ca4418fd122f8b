-- An alert's limit must mean something: a rate is a proportion in (0, 1], an age a positive number of seconds, and
-- kinds without a limit have none (a mistyped 5 meaning 5 %, a negative or NaN limit silently disabled the alert).
ALTER TABLE mlops.alert_settings ADD CONSTRAINT alert_settings_threshold_check CHECK (
    CASE kind
        WHEN 'duplicate_rate' THEN coalesce(threshold > 0 AND threshold <= 1, FALSE)
        WHEN 'review_queue_age' THEN coalesce(threshold > 0 AND threshold < 'Infinity'::double precision, FALSE)
        ELSE threshold IS NULL
    END
);

COMMENT ON COLUMN mlops.metric_snapshots.duplicate_rate IS
'Rows merged by the run / (rows merged + live rows), 0-1; live rows counted by this snapshot, else the table''s last '
'count (within the hour: older counts are measured again); NULL without a run or a count.';
COMMENT ON COLUMN mlops.alerts.fingerprint IS
'What the alert is about, e.g. run_failed:<table oid>, duplicate_rate:<run id>, new_fk_unindexed:<constraint oid>: '
'one open alert per table and fingerprint.';
