-- mlops.data_quality_report: per rule's table, what is left to clean: live and soft-deleted rows, exact-key
-- duplicate groups still there, references still pointing at merged rows, risky or slow FKs into it, and references
-- into it that no FK covers (partitions missing their siblings' FK, undeclared reference columns).

CREATE OR REPLACE FUNCTION mlops.data_quality_report()
RETURNS TABLE (
    target regclass,
    live_rows bigint,
    soft_deleted_rows bigint,
    exact_key_duplicate_groups bigint,
    references_to_merged_rows bigint,
    fks_without_index bigint,
    fks_blocking_deletes bigint,
    missing_fk_partitions bigint,
    undeclared_references bigint
)
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT q.* FROM mlops.data_quality_of(ARRAY(SELECT r.target FROM mlops.dedup_rules AS r)) AS q;
$$;

COMMENT ON FUNCTION mlops.data_quality_report() IS
'Per dedup rule''s table that the caller may read: live rows, soft-deleted rows, exact-key duplicate groups '
'remaining, references to merged (soft-deleted) rows, FKs into it without an index and FKs into it that block '
'deletes, partitions or inheritance children lacking an FK into it that their siblings carry (missing_fk_partitions) '
'and columns or polymorphic pairs whose values are its keys without an FK or declaration (undeclared_references), '
'all counts (bigint) from mlops.fk_policy_report. Read by view mlops.data_quality.';

REVOKE EXECUTE ON FUNCTION mlops.data_quality_report() FROM PUBLIC;
