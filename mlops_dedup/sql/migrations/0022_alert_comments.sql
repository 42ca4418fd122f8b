-- The console tables' comments as the routines now use them (0016's described a payload, a global first check and
-- a high-water mark that 0018 replaced).
COMMENT ON TABLE mlops.alerts IS
'Alerts raised by mlops.check_alerts (at the end of every merge_duplicates run, and on demand), always about a '
'table: kind (a row of mlops.alert_settings), severity (critical / warning), the table and run concerned, message, '
'detail (jsonb), when and by whom raised; resolved_at when the condition cleared (checked again) or a person '
'resolved it (mlops.resolve_alert); delivered_at when runner.py watch posted it to its webhook. Each new alert is '
'also sent on channel mlops_dedup_alerts (NOTIFY, payload: JSON alert_id, kind, severity). Raised, resolved and '
'marked delivered only by roles that may change the table (row-level security).';
COMMENT ON TABLE mlops.alert_checks IS
'Log of the evaluations of the alert rules (mlops.check_alerts): when, by whom, the newest run it looked at, alerts '
'raised and resolved. Which runs were checked is in mlops.alert_checked_runs.';
COMMENT ON TABLE mlops.alert_known_fks IS
'The foreign keys into each rule''s table that the last alert check of that table saw; a key missing here at the '
'next check is new (alerts new_fk_blocks_delete, new_fk_unindexed). A table''s first check '
'(mlops.alert_watched_tables) only records its keys.';
