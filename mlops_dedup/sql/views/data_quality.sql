-- mlops.data_quality: mlops.data_quality_report() as a view, for dashboards.

CREATE OR REPLACE VIEW mlops.data_quality AS
SELECT
    q.target,
    q.live_rows,
    q.soft_deleted_rows,
    q.exact_key_duplicate_groups,
    q.references_to_merged_rows,
    q.fks_without_index,
    q.fks_blocking_deletes,
    q.missing_fk_partitions,
    q.undeclared_references
FROM mlops.data_quality_report() AS q;

COMMENT ON VIEW mlops.data_quality IS
'Per dedup rule''s table that the caller may read: live and soft-deleted rows, exact-key duplicate groups remaining, '
'references to merged rows, FKs without index, FKs that block deletes, partitions lacking an FK their siblings '
'carry, undeclared references (columns whose values are its keys without an FK or declaration).';
