-- mlops.check_alerts: evaluates the alert rules of mlops.alert_settings (at the end of every merge_duplicates run,
-- and on demand) for the tables the caller may change, raises each new alert once (a row in mlops.alerts and a NOTIFY
-- on mlops_dedup_alerts), and resolves the open alerts whose condition cleared. Two checks at once raise nothing twice
-- (unique open alerts, each run checked once).

CREATE OR REPLACE FUNCTION mlops.check_alerts(p_run_ids bigint[] DEFAULT NULL)
RETURNS SETOF mlops.alerts
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_runs bigint[];
    v_unmeasured bigint[];
    v_alert mlops.alerts;
    v_raised integer := 0;
    v_resolved integer := 0;
BEGIN
    PERFORM 'PRAGMA:TABLE: mlops_alert_found (kind text, severity text, target regclass, run_id bigint,'
        ' fingerprint text, message text, detail jsonb)';
    PERFORM 'PRAGMA:TABLE: mlops_alert_fks (fk_oid oid, fk_name text, referencing_table regclass, target regclass,'
        ' on_delete text, indexed boolean, fix text)';
    IF p_run_ids IS NULL THEN
        -- on demand: the conditions as they are now
        PERFORM mlops.record_metrics(NULL);
    END IF;

    -- Runs to look at: those given and every finished run nobody checked yet (its CALL's check failed or was
    -- cancelled), of tables the caller may change; the others are left for a role that may.
    v_runs := ARRAY(
        SELECT u.run_id FROM mlops.dedup_runs AS u
        WHERE NOT u.dry_run AND u.status <> 'running'
            AND (u.run_id = ANY (coalesce(p_run_ids, '{}'))
                OR NOT EXISTS (SELECT FROM mlops.alert_checked_runs AS c WHERE c.run_id = u.run_id))
            AND EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = u.target)
            AND has_table_privilege(u.target, 'SELECT') AND has_table_privilege(u.target, 'UPDATE')
            -- a run counts when its role could merge the table (a reader's run, refused or dry, tells nothing)
            AND CASE
                WHEN u.run_by IS NULL THEN TRUE
                WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_roles AS o WHERE o.rolname = u.run_by) THEN FALSE
                ELSE has_table_privilege(u.run_by, u.target, 'UPDATE')
            END
        ORDER BY u.run_id
    );
    -- a run whose own snapshot is missing gets one now (its duplicate rate)
    v_unmeasured := ARRAY(
        SELECT r.run_id FROM unnest(v_runs) AS r (run_id)
        WHERE NOT EXISTS (SELECT FROM mlops.metric_snapshots AS s WHERE s.run_id = r.run_id)
    );
    IF cardinality(v_unmeasured) > 0 THEN
        PERFORM mlops.record_metrics(v_unmeasured);
    END IF;

    -- made once per transaction (no NOTICE when a check runs twice in one), emptied each time
    IF to_regclass('pg_temp.mlops_alert_found') IS NULL THEN
        CREATE TEMP TABLE mlops_alert_found (
            kind text, severity text, target regclass, run_id bigint, fingerprint text, message text, detail jsonb
        ) ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp.mlops_alert_found;

    -- 1. The runs. A table's latest run failed, or finished partially: one open alert per table (every run of a
    --    rule that keeps failing is not news), resolved by a later run that does better (a skipped or cancelled
    --    run tells nothing either way). Merges refused on a constraint and a duplicate rate above the limit: per run.
    INSERT INTO pg_temp.mlops_alert_found
    SELECT 'run_failed', 'critical', l.target, l.run_id, format('run_failed:%s', l.target::oid),
        format('run %s of %s failed: %s (SQLSTATE %s)', l.run_id, l.target, l.error, l.error_sqlstate),
        jsonb_build_object('status', l.status, 'error', l.error, 'sqlstate', l.error_sqlstate,
            'started_at', l.started_at, 'finished_at', l.finished_at)
    FROM (
        SELECT DISTINCT ON (u.target) u.* FROM mlops.dedup_runs AS u
        WHERE u.run_id = ANY (v_runs) AND u.status NOT IN ('skipped', 'cancelled')
        ORDER BY u.target, u.run_id DESC
    ) AS l
    WHERE l.status = 'failed'
    UNION ALL
    SELECT 'run_partial', 'warning', l.target, l.run_id, format('run_partial:%s', l.target::oid),
        format('run %s of %s finished partially: %s clusters failed, %s skipped, %s batches failed%s', l.run_id,
            l.target, l.clusters_failed, l.clusters_skipped, l.batches_failed, coalesce(': ' || l.error, '')),
        jsonb_build_object('status', l.status, 'error', l.error, 'sqlstate', l.error_sqlstate,
            'clusters_failed', l.clusters_failed, 'clusters_skipped', l.clusters_skipped,
            'batches_failed', l.batches_failed)
    FROM (
        SELECT DISTINCT ON (u.target) u.* FROM mlops.dedup_runs AS u
        WHERE u.run_id = ANY (v_runs) AND u.status NOT IN ('skipped', 'cancelled')
        ORDER BY u.target, u.run_id DESC
    ) AS l
    WHERE l.status = 'partial'
    UNION ALL
    SELECT 'merge_refused', 'critical', u.target, u.run_id, format('merge_refused:%s', u.run_id),
        format('run %s of %s: %s refused on a constraint: %s (SQLSTATE %s)', u.run_id, u.target,
            CASE WHEN f.n = 0 THEN 'the run' WHEN f.n = 1 THEN '1 merge' ELSE f.n || ' merges' END,
            coalesce(f.first_message, u.error), coalesce(f.first_state, u.error_sqlstate)),
        jsonb_build_object('refused', f.refused, 'run_error', u.error, 'run_sqlstate', u.error_sqlstate)
    FROM mlops.dedup_runs AS u
    CROSS JOIN LATERAL (
        SELECT count(*) AS n,
            (array_agg(x.message ORDER BY x.failure_id))[1] AS first_message,
            (array_agg(x.sqlstate ORDER BY x.failure_id))[1] AS first_state,
            coalesce(jsonb_agg(jsonb_build_object('survivor_key', x.survivor_key, 'loser_keys', x.loser_keys,
                'sqlstate', x.sqlstate, 'message', x.message, 'detail', x.detail, 'hint', x.hint)
                ORDER BY x.failure_id) FILTER (WHERE x.rn <= 20), '[]'::jsonb) AS refused
        FROM (
            SELECT mf.*, row_number() OVER (ORDER BY mf.failure_id) AS rn
            FROM mlops.merge_failures AS mf
            WHERE mf.run_id = u.run_id AND mf.sqlstate LIKE '23%'
        ) AS x
    ) AS f
    WHERE u.run_id = ANY (v_runs) AND (f.n > 0 OR u.error_sqlstate LIKE '23%')
    UNION ALL
    SELECT 'duplicate_rate', 'warning', s.target, s.run_id, format('duplicate_rate:%s', s.run_id),
        format('run %s merged %s%% of %s (%s rows), above the limit of %s%%', s.run_id,
            round((s.duplicate_rate * 100)::numeric, 2), s.target, s.rows_merged,
            round((a.threshold * 100)::numeric, 2)),
        jsonb_build_object('duplicate_rate', s.duplicate_rate, 'rows_merged', s.rows_merged,
            'live_rows', s.live_rows, 'limit', a.threshold)
    FROM mlops.metric_snapshots AS s
    CROSS JOIN mlops.alert_settings AS a
    WHERE s.run_id = ANY (v_runs) AND a.kind = 'duplicate_rate' AND s.duplicate_rate > a.threshold;

    -- 2. The tables' state now: references to merged rows (latest snapshot), review queue age.
    INSERT INTO pg_temp.mlops_alert_found
    SELECT 'references_to_merged_rows', 'warning', s.target, s.run_id,
        format('references_to_merged_rows:%s', s.target::oid),
        format('%s rows reference soft-deleted merged rows of %s', s.references_to_merged_rows, s.target),
        jsonb_build_object('references_to_merged_rows', s.references_to_merged_rows, 'snapshot_id', s.snapshot_id,
            'hint', 'The next merge_duplicates run re-points them; SELECT * FROM mlops.data_quality.')
    FROM mlops.dedup_rules AS r
    CROSS JOIN LATERAL (
        -- the latest snapshot that counted them (an incremental run's may not have)
        SELECT ms.* FROM mlops.metric_snapshots AS ms
        WHERE ms.target = r.target AND ms.references_to_merged_rows IS NOT NULL
        ORDER BY ms.snapshot_id DESC LIMIT 1
    ) AS s
    WHERE r.enabled AND s.references_to_merged_rows > 0 AND (
        has_table_privilege(r.target, 'SELECT') AND has_table_privilege(r.target, 'UPDATE')
    )
    UNION ALL
    SELECT 'review_queue_age', 'warning', q.target, NULL::bigint, format('review_queue_age:%s', q.target::oid),
        format('the oldest of %s pending review pairs of %s has waited %s, longer than %s', q.pending, q.target,
            date_trunc('second', clock_timestamp() - q.oldest), make_interval(secs => a.threshold)),
        jsonb_build_object('pending', q.pending, 'oldest_created_at', q.oldest, 'limit_seconds', a.threshold)
    FROM (
        SELECT c.target, count(*) AS pending, min(c.created_at) AS oldest
        FROM mlops.duplicate_candidates AS c
        INNER JOIN mlops.dedup_rules AS r ON r.target = c.target
        WHERE c.status = 'pending' AND r.enabled AND (
            has_table_privilege(r.target, 'SELECT') AND has_table_privilege(r.target, 'UPDATE')
        )
        GROUP BY c.target
    ) AS q
    CROSS JOIN mlops.alert_settings AS a
    WHERE a.kind = 'review_queue_age' AND q.oldest < clock_timestamp() - make_interval(secs => a.threshold);

    -- 3. Foreign keys into the rules' tables (enabled or not) added since the table's previous check: blocking
    --    deletes, or without an index. A table checked for the first time only has its keys recorded.
    -- made once per transaction (no NOTICE when a check runs twice in one), emptied each time
    IF to_regclass('pg_temp.mlops_alert_fks') IS NULL THEN
        CREATE TEMP TABLE mlops_alert_fks (
            fk_oid oid, fk_name text, referencing_table regclass, target regclass, on_delete text, indexed boolean,
            fix text
        ) ON COMMIT DROP;
    END IF;
    TRUNCATE pg_temp.mlops_alert_fks;
    INSERT INTO pg_temp.mlops_alert_fks
    SELECT f.fk_oid, f.fk_name, f.referencing_table, f.referenced_table, f.on_delete,
        mlops.index_leads_with(f.referencing_table, f.referencing_columns),
        mlops.fk_index_statement(f.referencing_table, f.referencing_columns)
    FROM mlops.foreign_key_catalog() AS f
    WHERE f.referenced_table IN (
        SELECT r.target FROM mlops.dedup_rules AS r
        WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
            AND (
                has_table_privilege(r.target, 'SELECT') AND has_table_privilege(r.target, 'UPDATE')
            )
    );
    INSERT INTO pg_temp.mlops_alert_found
    SELECT 'new_fk_blocks_delete', 'warning', f.target, NULL::bigint, format('new_fk_blocks_delete:%s', f.fk_oid),
        format('new foreign key %s on %s blocks deletes of %s rows (ON DELETE %s)', quote_ident(f.fk_name),
            f.referencing_table, f.target, f.on_delete),
        jsonb_build_object('fk_name', f.fk_name, 'referencing_table', f.referencing_table::text,
            'on_delete', f.on_delete, 'hint', 'A merge re-points its rows; a plain DELETE of a referenced row '
            'fails (the incident''s ForeignKeyViolation).')
    FROM pg_temp.mlops_alert_fks AS f
    WHERE f.on_delete IN ('NO ACTION', 'RESTRICT')
        AND EXISTS (SELECT FROM mlops.alert_watched_tables AS w WHERE w.target = f.target)
        AND NOT EXISTS (
            SELECT FROM mlops.alert_known_fks AS k WHERE k.target = f.target AND k.constraint_oid = f.fk_oid
        )
    UNION ALL
    SELECT 'new_fk_unindexed', 'warning', f.target, NULL::bigint, format('new_fk_unindexed:%s', f.fk_oid),
        format('new foreign key %s on %s has no index: every merge or delete of %s rows scans %s',
            quote_ident(f.fk_name), f.referencing_table, f.target, f.referencing_table),
        jsonb_build_object('fk_name', f.fk_name, 'referencing_table', f.referencing_table::text, 'fix', f.fix)
    FROM pg_temp.mlops_alert_fks AS f
    WHERE NOT f.indexed
        AND EXISTS (SELECT FROM mlops.alert_watched_tables AS w WHERE w.target = f.target)
        AND NOT EXISTS (
            SELECT FROM mlops.alert_known_fks AS k WHERE k.target = f.target AND k.constraint_oid = f.fk_oid
        );

    -- 4. Resolve what cleared: a table's condition no longer found, a foreign key dropped, indexed or relaxed.
    UPDATE mlops.alerts AS a
    SET resolved_at = clock_timestamp(), resolved_by = current_user
    WHERE a.resolved_at IS NULL
        AND has_table_privilege(a.target, 'SELECT') AND has_table_privilege(a.target, 'UPDATE')
        AND (
            (a.kind IN ('references_to_merged_rows', 'review_queue_age')
                AND NOT EXISTS (SELECT FROM pg_temp.mlops_alert_found AS n WHERE n.fingerprint = a.fingerprint))
            -- a table's later run looked at here did not fail (or finish partially) again
            OR (a.kind IN ('run_failed', 'run_partial')
                AND EXISTS (
                    SELECT FROM mlops.dedup_runs AS u
                    WHERE u.run_id = ANY (v_runs) AND u.target = a.target AND u.run_id > a.run_id
                        AND u.status NOT IN ('skipped', 'cancelled')
                )
                AND NOT EXISTS (SELECT FROM pg_temp.mlops_alert_found AS n WHERE n.fingerprint = a.fingerprint))
            OR (a.kind = 'new_fk_unindexed' AND NOT EXISTS (
                SELECT FROM pg_temp.mlops_alert_fks AS f
                WHERE a.fingerprint = format('new_fk_unindexed:%s', f.fk_oid) AND NOT f.indexed))
            OR (a.kind = 'new_fk_blocks_delete' AND NOT EXISTS (
                SELECT FROM pg_temp.mlops_alert_fks AS f
                WHERE a.fingerprint = format('new_fk_blocks_delete:%s', f.fk_oid)
                    AND f.on_delete IN ('NO ACTION', 'RESTRICT')))
        );
    GET DIAGNOSTICS v_resolved = ROW_COUNT;

    -- 5. Remember the foreign keys seen, per table, for the next check.
    DELETE FROM mlops.alert_known_fks AS k
    WHERE has_table_privilege(k.target, 'SELECT') AND has_table_privilege(k.target, 'UPDATE')
        AND NOT EXISTS (
            SELECT FROM pg_temp.mlops_alert_fks AS f WHERE f.target = k.target AND f.fk_oid = k.constraint_oid
        );
    INSERT INTO mlops.alert_known_fks (constraint_oid, constraint_name, referencing_table, target)
    SELECT f.fk_oid, f.fk_name, f.referencing_table, f.target FROM pg_temp.mlops_alert_fks AS f
    ON CONFLICT (target, constraint_oid) DO NOTHING;
    INSERT INTO mlops.alert_watched_tables (target)
    SELECT r.target FROM mlops.dedup_rules AS r
    WHERE EXISTS (SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = r.target)
        AND (
            has_table_privilege(r.target, 'SELECT') AND has_table_privilege(r.target, 'UPDATE')
        )
    ON CONFLICT (target) DO NOTHING;

    -- 6. Raise the new ones: enabled kinds, once per fingerprint (a run's alert never again, even once resolved).
    FOR v_alert IN
        INSERT INTO mlops.alerts AS a (kind, severity, target, run_id, fingerprint, message, detail)
        SELECT n.kind, n.severity, n.target, n.run_id, n.fingerprint, n.message, n.detail
        FROM pg_temp.mlops_alert_found AS n
        INNER JOIN mlops.alert_settings AS s ON s.kind = n.kind
        WHERE s.enabled
            AND NOT (n.kind IN ('merge_refused', 'duplicate_rate')
                AND EXISTS (SELECT FROM mlops.alerts AS o WHERE o.target = n.target AND o.fingerprint = n.fingerprint))
        ORDER BY n.run_id NULLS LAST, n.kind, n.fingerprint
        ON CONFLICT (target, fingerprint) WHERE resolved_at IS NULL DO NOTHING
        RETURNING a.*
    LOOP
        -- any role may LISTEN: the payload names the alert, listeners read it (row-level security applies there)
        PERFORM pg_notify('mlops_dedup_alerts', jsonb_build_object(
            'alert_id', v_alert.alert_id, 'kind', v_alert.kind, 'severity', v_alert.severity
        )::text);
        v_raised := v_raised + 1;
        RETURN NEXT v_alert;
    END LOOP;

    INSERT INTO mlops.alert_checked_runs (run_id, target)
    SELECT u.run_id, u.target FROM mlops.dedup_runs AS u WHERE u.run_id = ANY (v_runs)
    ON CONFLICT (run_id) DO NOTHING;
    INSERT INTO mlops.alert_checks (last_run_id, alerts_raised, alerts_resolved)
    VALUES ((SELECT max(r.run_id) FROM unnest(v_runs) AS r (run_id)), v_raised, v_resolved);
END;
$$;

COMMENT ON FUNCTION mlops.check_alerts(bigint[]) IS
'Evaluates the enabled alert rules (mlops.alert_settings) for the tables the caller may change (SELECT and UPDATE) '
'and returns the alerts it raised (rows of mlops.alerts). Runs: those in p_run_ids and every finished run not '
'checked yet (mlops.alert_checked_runs; one missing its snapshot gets one): run_failed (critical) and run_partial '
'when a table''s latest run failed or finished partially (one open alert per table, resolved by a later run that did '
'better), merge_refused (a merge or the run refused with SQLSTATE class 23; critical) and duplicate_rate (the run '
'merged more than threshold, a proportion 0-1, of its table) per run. Tables now: references_to_merged_rows (latest '
'snapshot that counted them), review_queue_age (oldest pending pair older than threshold seconds). Foreign keys into '
'rules'' tables added since the table''s previous check: new_fk_blocks_delete (NO ACTION / RESTRICT), '
'new_fk_unindexed (detail.fix: the CREATE INDEX CONCURRENTLY statement); a table''s first check only records its '
'keys. An alert is raised once per table and fingerprint while open (merge_refused and duplicate_rate once per run '
'ever), with a NOTIFY on channel mlops_dedup_alerts (payload: JSON alert_id, kind, severity); open alerts whose '
'cause is gone are resolved. Without p_run_ids it first records a metrics snapshot (mlops.record_metrics). Each '
'check is logged in mlops.alert_checks. merge_duplicates calls it at the end of every CALL.';

REVOKE EXECUTE ON FUNCTION mlops.check_alerts(bigint[]) FROM PUBLIC;
