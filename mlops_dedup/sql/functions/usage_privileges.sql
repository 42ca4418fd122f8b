-- mlops.usage_privileges: the one list of what a role needs on the package's own objects to merge, undo, review,
-- detect and read the reports (and, for a rule writer, to write rules); grant_usage and revoke_usage read it.

CREATE OR REPLACE FUNCTION mlops.usage_privileges(p_rule_writer boolean DEFAULT FALSE)
RETURNS TABLE (object_type text, object_name text, privilege text)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- The routines the roles call, and every internal helper they call (all run SECURITY INVOKER, so the caller
    -- needs EXECUTE on each); a name not installed is skipped (tests/test_privileges.py compares the list with the
    -- call graph). Not here: the installer's routines (add_soft_delete_columns, alter_fk_on_delete), the rules'
    -- trigger functions (a trigger fires without EXECUTE), grant_usage and revoke_usage themselves.
    v_routines CONSTANT text[] := ARRAY[
        -- public: merge, undo, review, detect, reports
        'merge_rows', 'merge_clusters', 'unmerge', 'resolve_id', 'find_duplicates', 'merge_duplicates',
        'review_candidate', 'data_quality_report', 'fk_policy_report', 'referencing_fks', 'normalize_url',
        'normalize_url_percent', 'normalize_text', 'text_similarity', 'match_evidence',
        'merge_failures_clear',
        -- text matching in any locale (issue 10)
        'text_separator_class', 'text_trigrams', 'trigram_similarity', 'pg_trgm_blind', 'text_similarity_sql',
        'text_skeleton', 'dedup_value_sql',
        -- internal helpers on those paths
        'assert_table', 'assert_not_package_relation', 'package_table_names', 'assert_not_in_transaction_block',
        'primary_key_columns', 'has_soft_delete_columns', 'merge_assert_allowed',
        'merge_lock_rows', 'merge_resolve_collisions', 'merge_repoint', 'merge_fill_nulls', 'merge_mapping_sql',
        'merge_self_exclusion_sql', 'sql_pairs', 'sql_column_pairs', 'row_key_sql', 'foreign_key_catalog',
        'fk_action_name', 'restore_archived_rows', 'unmerge_apply', 'unmerge_archived_moves', 'dedup_detect',
        'dedup_default_keep_order', 'merge_repoint_stale', 'dedup_rule_keep_order_sql',
        'dedup_rule_runnable_evaluator', 'dedup_rule_evaluator_problems', 'dedup_rule_session_state',
        'dedup_rule_missing_rights', 'dedup_rule_merge_refusal', 'merge_log_trusted',
        -- exact archive and fill (issue 8)
        'archive_text', 'archive_exact_columns', 'archive_value_sql', 'merge_archive_losers', 'merge_archive_rows_of',
        'merge_assert_referenced_keys', 'merge_unique_columns', 'merge_fill_columns', 'merge_fill_unique',
        'pin_search_path', 'caller_search_path_cte_sql', 'caller_search_path_scan_sql', 'format_ids',
        'archive_row_text_sql', 'merge_merged_rows_stay_sql', 'merge_conflicts_add', 'fk_match_sql', 'merge_raise_missing_rows',
        -- conflict policies (issue 8)
        'conflict_policy_check', 'merge_combine_twins', 'unmerge_combined', 'unique_index_keys',
        -- constraint planning (issue 8)
        'merge_plan_constraints', 'merge_plan_exclusion', 'merge_remove_self_links', 'merge_projection_sql',
        'merge_hierarchy_sql', 'unmerge_redirected_moves',
        -- a run that always finishes (merge_duplicates)
        'dedup_rule_fingerprint', 'merge_cluster_fingerprint', 'dedup_recheck_members', 'dedup_skip_failed_clusters',
        'dedup_work_prepare', 'merge_failure_record', 'dedup_batch_report', 'dedup_cancel_requested',
        -- declared references and the FK audit's guesses (issue 9)
        'declared_references_of', 'index_leads_with', 'reference_type_fits', 'audit_missing_partition_fks',
        'audit_undeclared_references', 'audit_undeclared_polymorphic', 'audit_key_match', 'audit_table_names',
        'key_column', 'key_match_sql', 'key_type_sql', 'key_refusal',
        -- keys of any type and declared references in merges (issue 9)
        'key_base_type', 'key_text_sql', 'key_texts', 'target_references', 'declared_reference', 'reference_set_sql',
        'merge_assert_unreferenced_rows', 'key_spelling_sql',
        -- undo and resolve_id of keys of any type (issue 9)
        'key_text_is_canonical', 'loser_keys_match_sql', 'merge_chain_ends',
        -- detection of any key type (issue 9)
        'key_is_integer',
        -- incremental detection (issue 11); creating the capture triggers needs EXECUTE on their function
        'dedup_track_changes', 'dedup_capture_changes', 'dedup_signatures_make', 'dedup_signatures_probe',
        'dedup_signatures_store', 'dedup_state_finish', 'dedup_changes_captured',
        'dedup_signatures_uncapped', 'dedup_signatures_analyze',
        -- learned matching (issue 12)
        'train_rule', 'explain_match', 'dedup_linkage_edges', 'linkage_pairs', 'linkage_estimate',
        'dedup_detect_no_clusters', 'linkage_fingerprint', 'linkage_model_load', 'linkage_current_model',
        'linkage_label_trusted', 'linkage_labels', 'linkage_model_warnings', 'linkage_labelled_probability', 'comparison_kinds', 'comparison_levels_sql', 'comparison_level_labels',
        'comparison_values_sql', 'comparison_base_type', 'match_probability', 'edit_distance', 'edit_distance_sql',
        -- the web console's history and alerts (issue 13)
        'record_metrics', 'check_alerts', 'resolve_alert', 'unmerge_run', 'data_quality_of', 'fk_index_statement'
    ];
    -- what the rules' trigger calls as the writer: it compiles the evaluator
    v_writer_routines CONSTANT text[] := ARRAY['dedup_rule_compile', 'dedup_rule_text_warning',
        'dedup_rule_check_comparisons', 'comparison_value_sql', 'comparison_base_type'];
BEGIN
    IF p_rule_writer IS NULL THEN
        RAISE EXCEPTION 'p_rule_writer must be true or false, not NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;

    RETURN QUERY
    WITH wanted (ord, kind, name, priv, cols) AS (
        VALUES
        -- mlops: where the routines, the merge log and (for the platform) the user's tables live;
        -- mlops_rules: where detection finds the rules' evaluators.
        (1, 'schema', 'mlops', 'USAGE', NULL::text[]),
        (2, 'schema', 'mlops_rules', 'USAGE', NULL),
        -- merge log: merges read it (already merged?) and append; undo reads it and marks undone; fill_nulls
        -- records what it filled. merge_id, merged_at and merged_by come from their defaults, never the caller.
        (3, 'table', 'mlops.merges', 'SELECT', NULL),
        (3, 'table', 'mlops.merges', 'INSERT',
            ARRAY[
                'parent_merge_id', 'target', 'key_type', 'survivor_key', 'loser_keys', 'survivor_id', 'loser_ids',
                'reason', 'score', 'soft_deleted', 'fill_nulls'
            ]),
        (
            3, 'table', 'mlops.merges', 'UPDATE',
            ARRAY['filled', 'filled_text', 'fill_skipped', 'undone_at', 'undone_by', 'conflicts', 'combined']
        ),
        -- archive: merges append deleted rows; undo reads them back and corrects the copy of a row another
        -- merge archived since (row_data). Row-level security shows a role only rows of tables it may read.
        (4, 'table', 'mlops.merge_archive', 'SELECT', NULL),
        (
            4, 'table', 'mlops.merge_archive', 'INSERT',
            ARRAY['merge_id', 'target', 'row_key', 'row_data', 'row_text', 'source_table']
        ),
        (4, 'table', 'mlops.merge_archive', 'UPDATE', ARRAY['row_data']),
        -- moved references: merges append, undo reads.
        (5, 'table', 'mlops.merge_moves', 'SELECT', NULL),
        -- the log's index by key: merges write it through mlops.merges' trigger, lookups read it.
        (5, 'table', 'mlops.merge_losers', 'SELECT', NULL),
        (5, 'table', 'mlops.merge_losers', 'INSERT', ARRAY['target', 'loser_key', 'merge_id']),
        (
            5, 'table', 'mlops.merge_moves', 'INSERT',
            ARRAY['merge_id', 'referencing_table', 'fk_name', 'row_key', 'loser_key', 'moved_to', 'moved_from']
        ),
        -- rules: detection, review and the reports read them.
        (6, 'table', 'mlops.dedup_rules', 'SELECT', NULL),
        -- conflict policies: merges read what to do with colliding referencing rows.
        (6, 'table', 'mlops.conflict_policies', 'SELECT', NULL),
        -- declared references: merges re-point them, the FK audit lists them.
        (6, 'table', 'mlops.declared_references', 'SELECT', NULL),
        -- runs: merge_duplicates records each run and its progress; dedup_stats reads them (as its owner).
        (7, 'table', 'mlops.dedup_runs', 'SELECT', NULL),
        (7, 'table', 'mlops.dedup_runs', 'INSERT', ARRAY['target', 'dry_run']),
        (7, 'table', 'mlops.dedup_runs', 'UPDATE',
            ARRAY['status', 'finished_at', 'clusters', 'rows_merged', 'references_moved', 'conflicts_merged',
                'candidates_queued', 'batches', 'batches_failed', 'detect_ms', 'merge_ms', 'error',
                'clusters_failed', 'clusters_skipped', 'clusters_changed', 'error_sqlstate', 'conflicts', 'full_pass',
                'rows_changed', 'rows_compared']),
        -- cluster failures: runs record them and read the open ones; runs and mlops.merge_failures_clear clear
        -- them. Row-level security: a role sees failures of tables it may SELECT, records and clears them only
        -- for tables it may UPDATE. recorded_by comes from its default, never the caller.
        (7, 'table', 'mlops.merge_failures', 'SELECT', NULL),
        (7, 'table', 'mlops.merge_failures', 'INSERT',
            ARRAY['run_id', 'target', 'survivor_key', 'loser_keys', 'sqlstate', 'message', 'detail', 'hint',
                'rows_fingerprint', 'rule_fingerprint']),
        (7, 'table', 'mlops.merge_failures', 'UPDATE', ARRAY['cleared_at', 'cleared_by', 'cleared_reason']),
        -- review queue: merge_duplicates queues pairs, detection skips decided ones, review_candidate decides.
        (8, 'table', 'mlops.duplicate_candidates', 'SELECT', NULL),
        (
            8, 'table', 'mlops.duplicate_candidates', 'INSERT',
            ARRAY['target', 'left_id', 'right_id', 'left_key', 'right_key', 'score', 'reason', 'levels', 'model_id']
        ),
        (8, 'table', 'mlops.duplicate_candidates', 'UPDATE', ARRAY['status', 'decided_at']),
        -- incremental detection: the capture triggers queue changes (as the package's owner), runs read and consume
        -- them, and keep the rows' signatures and their state. Row-level security: only for tables the role reads.
        (8, 'table', 'mlops.dedup_changes', 'SELECT', NULL),
        (8, 'table', 'mlops.dedup_changes', 'INSERT', ARRAY['target', 'key']),
        (8, 'table', 'mlops.dedup_changes', 'DELETE', NULL),
        (8, 'table', 'mlops.dedup_signatures', 'SELECT', NULL),
        (8, 'table', 'mlops.dedup_signatures', 'INSERT', ARRAY['target', 'key', 'kind', 'sig', 'n']),
        (8, 'table', 'mlops.dedup_signatures', 'DELETE', NULL),
        (8, 'table', 'mlops.dedup_state', 'SELECT', NULL),
        (8, 'table', 'mlops.dedup_state', 'INSERT', ARRAY['target', 'fingerprint', 'complete']),
        (8, 'table', 'mlops.dedup_state', 'UPDATE', ARRAY['fingerprint', 'complete', 'built_at', 'updated_at']),
        (8, 'table', 'mlops.dedup_state', 'DELETE', NULL),
        -- learned rules: detection reads the models, trains them on a rule's first run and in mlops.train_rule.
        -- Row-level security: read with SELECT on the table, written and removed with the rights of the rule's owner.
        (8, 'table', 'mlops.dedup_models', 'SELECT', NULL),
        (8, 'table', 'mlops.dedup_models', 'INSERT',
            ARRAY['target', 'version', 'fingerprint', 'comparisons', 'kinds', 'prior_probability', 'random_pair_prior',
                'live_rows', 'candidate_pairs',
                'random_pairs', 'labelled_matches', 'labelled_distinct', 'iterations', 'converged', 'seed']),
        (8, 'table', 'mlops.dedup_models', 'DELETE', NULL),
        (8, 'table', 'mlops.dedup_model_levels', 'SELECT', NULL),
        (8, 'table', 'mlops.dedup_model_levels', 'INSERT', ARRAY['model_id', 'comparison', 'level', 'label', 'm', 'u']),
        -- metrics history and alerts: runs store a snapshot and check the alert rules; the console resolves alerts,
        -- runner.py watch marks them delivered, and logs what people do. Row-level security: tables the role reads.
        (8, 'table', 'mlops.metric_snapshots', 'SELECT', NULL),
        (8, 'table', 'mlops.metric_snapshots', 'INSERT',
            ARRAY['run_id', 'target', 'run_status', 'run_seconds', 'rows_merged', 'duplicate_rate', 'live_rows',
                'soft_deleted_rows', 'exact_key_duplicate_groups', 'references_to_merged_rows', 'fks_without_index',
                'fks_blocking_deletes', 'missing_fk_partitions', 'undeclared_references', 'pending_reviews',
                'oldest_pending_review_seconds']),
        (8, 'table', 'mlops.alert_settings', 'SELECT', NULL),
        (8, 'table', 'mlops.alerts', 'SELECT', NULL),
        (8, 'table', 'mlops.alerts', 'INSERT',
            ARRAY['kind', 'severity', 'target', 'run_id', 'fingerprint', 'message', 'detail']),
        (8, 'table', 'mlops.alerts', 'UPDATE', ARRAY['resolved_at', 'resolved_by', 'delivered_at', 'delivery_error']),
        (8, 'table', 'mlops.alert_checks', 'SELECT', NULL),
        (8, 'table', 'mlops.alert_checks', 'INSERT', ARRAY['last_run_id', 'alerts_raised', 'alerts_resolved']),
        (8, 'table', 'mlops.alert_checked_runs', 'SELECT', NULL),
        (8, 'table', 'mlops.alert_checked_runs', 'INSERT', ARRAY['run_id', 'target']),
        (8, 'table', 'mlops.alert_known_fks', 'SELECT', NULL),
        (8, 'table', 'mlops.alert_known_fks', 'INSERT',
            ARRAY['constraint_oid', 'constraint_name', 'referencing_table', 'target']),
        (8, 'table', 'mlops.alert_known_fks', 'DELETE', NULL),
        (8, 'table', 'mlops.alert_watched_tables', 'SELECT', NULL),
        (8, 'table', 'mlops.alert_watched_tables', 'INSERT', ARRAY['target']),
        (8, 'table', 'mlops.console_actions', 'SELECT', NULL),
        (8, 'table', 'mlops.console_actions', 'INSERT',
            ARRAY['action', 'target', 'object_id', 'detail', 'succeeded', 'client']),
        -- reports
        (9, 'view', 'mlops.dedup_stats', 'SELECT', NULL),
        (9, 'view', 'mlops.data_quality', 'SELECT', NULL),
        (9, 'view', 'mlops.review_queue', 'SELECT', NULL)
    ),
    writer (ord, kind, name, priv, cols) AS (
        -- A rule writer writes the rule's settings; rule_owner and evaluator are set by the rule trigger, which
        -- creates the evaluator in mlops_rules, owned by the writer.
        SELECT 10, 'table', 'mlops.dedup_rules', w.priv,
            CASE WHEN w.priv = 'DELETE' THEN NULL ELSE ARRAY(
                SELECT a.attname::text FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = 'mlops.dedup_rules'::regclass AND a.attnum > 0 AND NOT a.attisdropped
                    AND a.attname NOT IN ('rule_owner', 'evaluator', 'comparison_types')
                ORDER BY a.attnum
            ) END
        FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) AS w (priv)
        WHERE p_rule_writer
        UNION ALL
        -- A rule writer may declare conflict policies, for tables whose owner's rights it has (row-level security
        -- and the policies' trigger check that); declared_by and declared_at are stamped by the trigger.
        SELECT 10, 'table', 'mlops.conflict_policies', w.priv,
            CASE WHEN w.priv = 'DELETE' THEN NULL ELSE ARRAY['referencing_table', 'action', 'combine'] END
        FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) AS w (priv)
        WHERE p_rule_writer
        UNION ALL
        -- ... and declare references, likewise for tables whose owner's rights it has; declared_by and declared_at
        -- are stamped by the declarations' trigger, reference_id is an identity.
        SELECT 10, 'table', 'mlops.declared_references', w.priv,
            CASE WHEN w.priv = 'DELETE' THEN NULL
                ELSE ARRAY['referencing_table', 'id_column', 'target', 'type_column', 'type_value', 'json_path'] END
        FROM unnest(ARRAY['INSERT', 'UPDATE', 'DELETE']) AS w (priv)
        WHERE p_rule_writer
        UNION ALL
        SELECT 10, 'table', 'mlops.alert_settings', 'UPDATE', ARRAY['enabled', 'threshold']
        WHERE p_rule_writer
        UNION ALL
        SELECT 11, 'schema', 'mlops_rules', 'CREATE', NULL
        WHERE p_rule_writer
    ),
    routines (ord, kind, name, priv, cols) AS (
        SELECT 12, CASE WHEN p.prokind = 'p' THEN 'procedure' ELSE 'function' END, p.oid::regprocedure::text,
            'EXECUTE', NULL::text[]
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'mlops'::regnamespace
            AND (p.proname = ANY (v_routines) OR (p_rule_writer AND p.proname = ANY (v_writer_routines)))
    )
    SELECT x.kind, x.name,
        x.priv || coalesce(
            ' (' || (SELECT string_agg(quote_ident(c.col), ', ') FROM unnest(x.cols) AS c (col)) || ')', ''
        )
    FROM (SELECT * FROM wanted UNION ALL SELECT * FROM writer UNION ALL SELECT * FROM routines) AS x
    ORDER BY x.ord, x.name, array_position(ARRAY['USAGE', 'CREATE', 'SELECT', 'INSERT', 'UPDATE', 'DELETE'], x.priv);
END;
$$;

COMMENT ON FUNCTION mlops.usage_privileges(boolean) IS
'Internal, read by mlops.grant_usage and mlops.revoke_usage: (object_type, object_name, privilege) rows, the '
'privileges on the package''s own schemas, tables, views and routines that running merges, undo, review, detection '
'and the reports needs (with p_rule_writer also writing rules); privilege may name columns, e.g. ''UPDATE (filled)''. '
'NULL p_rule_writer: 22004.';

REVOKE EXECUTE ON FUNCTION mlops.usage_privileges(boolean) FROM PUBLIC;
