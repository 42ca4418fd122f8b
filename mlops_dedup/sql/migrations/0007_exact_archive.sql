-- Exact undo and fill: the archive keeps, next to to_jsonb(row), the exact text of every column whose JSON form is
-- not exact (json text, floats, intervals, arrays with their bounds, composites, ranges, bytea, ...) and the table
-- the row lived in (an inheritance child, with its own columns); the merge log keeps the exact text of what a fill
-- wrote, and the columns a fill skipped.

ALTER TABLE mlops.merge_archive
ADD COLUMN row_text jsonb,
ADD COLUMN source_table regclass;

COMMENT ON COLUMN mlops.merge_archive.row_text IS
'Column -> the value''s exact text (mlops.archive_text: ISO dates, postgres intervals, shortest exact floats) for '
'each column whose to_jsonb form is not exact; undo takes it where row_data still holds the same value.';
COMMENT ON COLUMN mlops.merge_archive.source_table IS
'The inheritance child the row lived in when it was not the merged table itself (or one of its partitions): undo '
'puts it back there, with the child''s own columns. NULL: the merged table.';

ALTER TABLE mlops."merges"  -- noqa: RF06
ADD COLUMN filled_text jsonb,
ADD COLUMN fill_skipped text[];

COMMENT ON COLUMN mlops."merges".filled_text IS  -- noqa: RF06
'What fill_nulls wrote, column -> the value''s exact text (mlops.archive_text): undo clears a filled column only '
'while it still holds exactly that.';
COMMENT ON COLUMN mlops."merges".fill_skipped IS  -- noqa: RF06
'Columns fill_nulls left NULL although a loser had a value: unique columns while the losers keep theirs (soft '
'delete), or columns of a multi-column, partial, expression or exclusion constraint.';

-- Roles granted usage before this migration write the new columns too (mlops.grant_usage grants them from now on).
DO $$
DECLARE
    v_grant record;
BEGIN
    FOR v_grant IN
        SELECT DISTINCT p.grantee, p.table_name, p.privilege_type
        FROM information_schema.column_privileges AS p
        WHERE p.table_schema = 'mlops'
            AND (p.table_name, p.column_name, p.privilege_type) IN (
                ('merges', 'filled', 'UPDATE'), ('merge_archive', 'row_data', 'INSERT')
            )
            AND p.grantee <> 'PUBLIC'
            AND p.grantee NOT IN (SELECT r.rolname FROM pg_catalog.pg_roles AS r WHERE r.oid = (
                SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = 'mlops.merges'::regclass
            ))
    LOOP
        EXECUTE format(
            'GRANT %s (%s) ON mlops.%I TO %I', v_grant.privilege_type,
            CASE WHEN v_grant.table_name = 'merges' THEN 'filled_text, fill_skipped' ELSE 'row_text, source_table' END,
            v_grant.table_name, v_grant.grantee
        );
    END LOOP;
END;
$$;
