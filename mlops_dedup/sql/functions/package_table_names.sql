-- mlops.package_table_names: the tables the package creates and owns in schema mlops, next to the user's tables.
-- The one list of them: the installer's clash check, the refusal to merge them and the grants read it.

-- (SQL, not PL/pgSQL: plpgsql_check 2.x fails with "unrecognized node type: 0" when the planner folds this
-- immutable call into a statement of another routine it checks and the call runs PL/pgSQL)
CREATE OR REPLACE FUNCTION mlops.package_table_names()
RETURNS text[]
LANGUAGE sql
IMMUTABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT ARRAY[
        'schema_migrations', 'merges', 'merge_archive', 'merge_moves', 'dedup_rules', 'dedup_runs',
        'duplicate_candidates', 'conflict_policies', 'merge_failures', 'declared_references', 'merge_losers',
        'dedup_changes', 'dedup_signatures', 'dedup_state', 'dedup_models', 'dedup_model_levels', 'metric_snapshots',
        'alert_settings', 'alerts', 'alert_checks', 'alert_known_fks', 'console_actions', 'alert_checked_runs',
        'alert_watched_tables'
    ]::text [];
$$;

COMMENT ON FUNCTION mlops.package_table_names() IS
'Names (text[]) of the tables of the mlops-dedup package in schema mlops; every other table there is the user''s.';

REVOKE EXECUTE ON FUNCTION mlops.package_table_names() FROM PUBLIC;
