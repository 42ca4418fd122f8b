-- Conflict merges honour their parent merge's options: the merge record keeps whether fill_nulls was asked (it
-- already keeps soft_deleted), so the merges of colliding rows made inside it can do the same.

ALTER TABLE mlops."merges"  -- noqa: RF06
ADD COLUMN fill_nulls boolean NOT NULL DEFAULT FALSE;

COMMENT ON COLUMN mlops."merges".fill_nulls IS  -- noqa: RF06
'Whether the merge filled the survivor''s NULL columns from its losers (p_fill_nulls); its conflict merges do too.';

COMMENT ON TABLE mlops.merge_failures IS
'One row per cluster a mlops.merge_duplicates run could not merge (any error but a lock timeout, a deadlock, a '
'serialization failure or a change of its rows since detection): the error, and fingerprints of the cluster''s rows '
'and of the rule. Later runs skip the cluster while the record is open (cleared_at NULL) and both fingerprints are '
'unchanged; a run that finds them changed, or the cluster no longer detected, clears the record. Clear by hand with '
'mlops.merge_failures_clear().';

-- The run's collision report: the sum of its merges' (mlops.merges.conflicts), per referencing table.
ALTER TABLE mlops.dedup_runs
ADD COLUMN conflicts jsonb NOT NULL DEFAULT '{}'::jsonb;

COMMENT ON COLUMN mlops.dedup_runs.conflicts IS
'Per referencing table, the colliding rows the run''s merges merged into their twins and how many of them differed '
'from their twin: {"table": {"policy": text, "merged": rows, "differed": rows, "columns": [text]}}.';

-- Roles granted usage before this migration (and before 0006, which added conflicts and combined) write the new
-- columns too; mlops.grant_usage grants them from now on.
DO $$
DECLARE
    v_grantee text;
BEGIN
    FOR v_grantee IN
        SELECT DISTINCT p.grantee
        FROM information_schema.column_privileges AS p
        WHERE p.table_schema = 'mlops' AND p.table_name = 'merges' AND p.column_name = 'reason'
            AND p.privilege_type = 'INSERT'
            AND p.grantee <> 'PUBLIC'
            AND p.grantee NOT IN (SELECT r.rolname FROM pg_catalog.pg_roles AS r WHERE r.oid = (
                SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = 'mlops.merges'::regclass
            ))
    LOOP
        EXECUTE format('GRANT INSERT (fill_nulls), UPDATE (conflicts, combined) ON mlops.merges TO %I', v_grantee);
        EXECUTE format('GRANT UPDATE (conflicts) ON mlops.dedup_runs TO %I', v_grantee);
    END LOOP;
END;
$$;
