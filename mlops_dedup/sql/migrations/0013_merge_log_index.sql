-- Issue 11: "which merge took this key of this table" costs one btree probe, whatever the size of the merge log.
-- The GIN index on merges.loser_keys answers it for every table at once and the planner cannot estimate a probe
-- with a parameter (0.5% of the log: 5,000 rows at 1M merges), so at a large log each lookup was planned as a big
-- query and JIT-compiled (16 ms a resolve_id at 1M merges, 0.9 ms at 1k). merge_losers holds one row per
-- (table, loser key, merge), written by a trigger on mlops.merges (mlops.merge_losers_record) and filled here from
-- the merges logged so far; lookups read it newest merge first and check the merge row itself (not undone, its
-- writer trusted, the key among its loser_keys).

CREATE TABLE mlops.merge_losers (
    target regclass NOT NULL,
    loser_key text NOT NULL,
    merge_id bigint NOT NULL,
    CONSTRAINT merge_losers_pkey PRIMARY KEY (target, loser_key, merge_id)
);

COMMENT ON TABLE mlops.merge_losers IS
'Index of the merge log: one row per key a merge took (mlops.merges.loser_keys), by table, written by the trigger '
'mlops.merge_losers_record. Readers check the merges row (merge_id) itself: a row here names a merge, it does not '
'say the merge is in force.';
COMMENT ON COLUMN mlops.merge_losers.target IS 'The merge''s table (mlops.merges.target).';
COMMENT ON COLUMN mlops.merge_losers.loser_key IS 'One key the merge took, as its loser_keys write it.';
COMMENT ON COLUMN mlops.merge_losers.merge_id IS 'The merge (mlops.merges.merge_id).';

INSERT INTO mlops.merge_losers (target, loser_key, merge_id)
SELECT DISTINCT
    m.target,
    u.loser_key,
    m.merge_id
FROM mlops."merges" AS m  -- noqa: RF06
CROSS JOIN LATERAL unnest(m.loser_keys) AS u (loser_key)
WHERE u.loser_key IS NOT NULL;

-- Roles granted usage before this migration write it through the trigger when they merge, and read it.
DO $$
DECLARE
    v_grantee name;
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
        ORDER BY p.grantee
    LOOP
        EXECUTE format(
            'GRANT SELECT, INSERT (target, loser_key, merge_id) ON mlops.merge_losers TO %I', v_grantee
        );
    END LOOP;
END;
$$;
