-- Soft delete: a merged row can stay in place, marked, instead of being deleted.
-- merged_into is a plain id, not an FK: mlops.resolve_id follows it, and a self FK would make
-- every later merge of the survivor re-point the soft-deleted rows too.

ALTER TABLE mlops.job_postings
ADD COLUMN deleted_at timestamptz,
ADD COLUMN merged_into bigint;

ALTER TABLE mlops.cover_letter_samples
ADD COLUMN deleted_at timestamptz,
ADD COLUMN merged_into bigint;

COMMENT ON COLUMN mlops.job_postings.deleted_at IS
'When the row was soft-deleted (merged away); NULL for live rows.';
COMMENT ON COLUMN mlops.job_postings.merged_into IS
'Id of the row this one was merged into, if soft-deleted by a merge.';
COMMENT ON COLUMN mlops.cover_letter_samples.deleted_at IS
'When the row was soft-deleted (merged away); NULL for live rows.';
COMMENT ON COLUMN mlops.cover_letter_samples.merged_into IS
'Id of the row this one was merged into, if soft-deleted by a merge.';
