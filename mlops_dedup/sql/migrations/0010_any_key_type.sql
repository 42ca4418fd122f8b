-- Merge targets may have any single-column key with btree equality (uuid, text, numeric, domains, …), not only
-- integers. The log keeps every key as text: the key type's own text output (mlops.key_text_sql: plain ::text for
-- types whose output does not depend on settings, mlops.archive_text's fixed settings for the others), which the
-- type's input reads back to the same value; merges.key_type says which type that is. Arrays keep the order the
-- keys were given in. The integer columns stay for the SQL people already wrote against them: merges.survivor_id /
-- loser_ids and duplicate_candidates.left_id / right_id are filled when the key is an integer, NULL otherwise.
-- The archive's, moves' and failures' own id columns, read only by the package, become text in place.

ALTER TABLE mlops."merges"  -- noqa: RF06
ADD COLUMN key_type regtype,
ADD COLUMN survivor_key text,
ADD COLUMN loser_keys text[];

UPDATE mlops."merges" AS m  -- noqa: RF06
SET
    key_type = coalesce((
        SELECT a.atttypid::regtype
        FROM pg_catalog.pg_index AS i
        INNER JOIN pg_catalog.pg_attribute AS a ON i.indrelid = a.attrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = m.target AND i.indisprimary
    ), 'pg_catalog.int8'::regtype),
    survivor_key = m.survivor_id::text,
    loser_keys = m.loser_ids::text[];

ALTER TABLE mlops."merges"  -- noqa: RF06
ALTER COLUMN key_type SET NOT NULL,
ALTER COLUMN survivor_key SET NOT NULL,
ALTER COLUMN loser_keys SET NOT NULL,
ALTER COLUMN survivor_id DROP NOT NULL,
ALTER COLUMN loser_ids DROP NOT NULL,
DROP CONSTRAINT merges_loser_ids_check,
ADD CONSTRAINT merges_loser_keys_check CHECK (cardinality(loser_keys) > 0);

-- "Which merge took this key" (resolve_id, already-merged checks, undo dependencies) now asks loser_keys.
DROP INDEX mlops.merges_loser_ids_idx;
CREATE INDEX merges_loser_keys_idx ON mlops."merges" USING gin (loser_keys);  -- noqa: RF06

COMMENT ON COLUMN mlops."merges".key_type IS  -- noqa: RF06
'Type of the target''s key column when the merge was made: survivor_key::key_type reads a key back.';
COMMENT ON COLUMN mlops."merges".survivor_key IS  -- noqa: RF06
'The survivor''s key as text (the type''s text output, read back exactly by the type''s input).';
COMMENT ON COLUMN mlops."merges".loser_keys IS  -- noqa: RF06
'Keys merged away, as text, in the order their values were used to fill the survivor.';
COMMENT ON COLUMN mlops."merges".survivor_id IS  -- noqa: RF06
'survivor_key as bigint when the key is an integer type (or a domain over one); NULL otherwise.';
COMMENT ON COLUMN mlops."merges".loser_ids IS  -- noqa: RF06
'loser_keys as bigint[] when the key is an integer type (or a domain over one); NULL otherwise.';

ALTER TABLE mlops.merge_archive RENAME COLUMN row_id TO row_key;
ALTER TABLE mlops.merge_archive ALTER COLUMN row_key TYPE text;
COMMENT ON COLUMN mlops.merge_archive.row_key IS
'The archived loser''s key as text (see mlops.merges.survivor_key); NULL for a colliding referencing row.';

ALTER TABLE mlops.merge_moves RENAME COLUMN loser_id TO loser_key;
ALTER TABLE mlops.merge_moves ALTER COLUMN loser_key TYPE text;
COMMENT ON COLUMN mlops.merge_moves.loser_key IS
'The key of the loser the row referenced before the move, as text; undo points the row back at it.';

-- A declared reference in a text column may spell a key otherwise than the key's own text ('B1FF…' for the uuid
-- b1ff…): the merge matches every spelling, and logs the one the row held, so undo writes it back as it was.
ALTER TABLE mlops.merge_moves ADD COLUMN moved_from text;
COMMENT ON COLUMN mlops.merge_moves.moved_from IS
'What the row held before the move, for undo to write back: for a declared reference or a one-column FK, the text '
'when it spelled the loser''s key otherwise than loser_key (upper-case uuid, other case of a citext key); for a key '
'inside a jsonb document, the JSON value (number or string). NULL otherwise.';

ALTER TABLE mlops.merge_failures RENAME COLUMN survivor_id TO survivor_key;
ALTER TABLE mlops.merge_failures ALTER COLUMN survivor_key TYPE text;
ALTER TABLE mlops.merge_failures RENAME COLUMN loser_ids TO loser_keys;
ALTER TABLE mlops.merge_failures ALTER COLUMN loser_keys TYPE text[];
ALTER TABLE mlops.merge_failures RENAME CONSTRAINT merge_failures_loser_ids_check TO merge_failures_loser_keys_check;
COMMENT ON COLUMN mlops.merge_failures.loser_keys IS 'The cluster''s losers'' keys as text, in key order.';

ALTER TABLE mlops.duplicate_candidates
ADD COLUMN left_key text,
ADD COLUMN right_key text;

UPDATE mlops.duplicate_candidates AS c
SET left_key = c.left_id::text, right_key = c.right_id::text;

ALTER TABLE mlops.duplicate_candidates
ALTER COLUMN left_key SET NOT NULL,
ALTER COLUMN right_key SET NOT NULL,
ALTER COLUMN left_id DROP NOT NULL,
ALTER COLUMN right_id DROP NOT NULL,
DROP CONSTRAINT duplicate_candidates_target_left_id_right_id_key,
ADD CONSTRAINT duplicate_candidates_target_left_key_right_key_key UNIQUE (target, left_key, right_key);

COMMENT ON COLUMN mlops.duplicate_candidates.left_key IS
'Key of the pair''s first row as text (the lower key in the key type''s order).';
COMMENT ON COLUMN mlops.duplicate_candidates.right_key IS 'Key of the pair''s second row as text.';
COMMENT ON COLUMN mlops.duplicate_candidates.left_id IS
'left_key as bigint when the key is an integer type; NULL otherwise.';
COMMENT ON COLUMN mlops.duplicate_candidates.right_id IS
'right_key as bigint when the key is an integer type; NULL otherwise.';

-- Roles granted usage before this migration write the new columns too; mlops.grant_usage grants them from now on.
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
        EXECUTE format('GRANT INSERT (key_type, survivor_key, loser_keys) ON mlops.merges TO %I', v_grantee);
        EXECUTE format('GRANT INSERT (moved_from) ON mlops.merge_moves TO %I', v_grantee);
        EXECUTE format('GRANT INSERT (left_key, right_key) ON mlops.duplicate_candidates TO %I', v_grantee);
    END LOOP;
END;
$$;

-- replaced signatures (merge side): keys are passed as the key's own type (polymorphic) or, inside, as text
SET LOCAL client_min_messages = warning;  -- a fresh install has none of them: no NOTICE per DROP
DROP FUNCTION IF EXISTS mlops.merge_rows(regclass, bigint, bigint[], text, boolean, boolean, real);
DROP FUNCTION IF EXISTS mlops.merge_clusters(regclass, bigint[], bigint[], text, real[], bigint[], boolean, boolean);
DROP FUNCTION IF EXISTS mlops.format_ids(bigint[], integer);
DROP FUNCTION IF EXISTS mlops.merge_raise_missing_rows(regclass, text, text, bigint[]);
DROP FUNCTION IF EXISTS mlops.merge_lock_rows(regclass, text, bigint[], bigint[]);
DROP FUNCTION IF EXISTS mlops.merge_repoint(
    regclass, text, regclass, text, text[], text[], bigint[], bigint[], bigint[]
);
DROP FUNCTION IF EXISTS mlops.merge_resolve_collisions(
    regclass, text, regclass, text, text[], text[], bigint[], bigint[], bigint[]
);
DROP FUNCTION IF EXISTS mlops.merge_archive_losers(regclass, text, bigint[], bigint[]);
DROP FUNCTION IF EXISTS mlops.merge_archive_rows_of(regclass, regclass, text, bigint[], bigint[], oid[]);
DROP FUNCTION IF EXISTS mlops.merge_plan_constraints(regclass, text, bigint[], bigint[], bigint[]);
DROP FUNCTION IF EXISTS mlops.merge_plan_exclusion(
    regclass, regclass, oid, boolean, text, text, bigint[], bigint[], bigint[], oid[], tid[]
);
DROP FUNCTION IF EXISTS mlops.merge_fill_nulls(regclass, text, bigint[], bigint[], bigint[]);
DROP FUNCTION IF EXISTS mlops.merge_fill_unique(regclass, text, bigint[], bigint[], bigint[], boolean);
DROP FUNCTION IF EXISTS mlops.merge_fill_columns(
    regclass, text, text[], bigint[], bigint[], bigint[], boolean, boolean
);
DROP FUNCTION IF EXISTS mlops.merge_assert_referenced_keys(regclass, text, bigint[], bigint[]);
-- any single-column key merges now (mlops.key_column, mlops.key_refusal)
DROP FUNCTION IF EXISTS mlops.integer_key_column(regclass);
DROP FUNCTION IF EXISTS mlops.merge_self_exclusion_sql(regclass, regclass, text, boolean);

-- replaced signatures (undo side)
DROP FUNCTION IF EXISTS mlops.resolve_id(regclass, bigint);
DROP FUNCTION IF EXISTS mlops.unmerge_archived_moves(
    bigint, regclass, text, bigint, regclass, text, text[], text[]
);
DROP FUNCTION IF EXISTS mlops.unmerge_redirected_moves(bigint, regclass, text, regclass, text, text[], text[]);

-- replaced signatures (detection side): find_duplicates returns the keys as text too (survivor_key, member_key);
-- a failed cluster is fingerprinted and recorded by its keys as text. install re-creates them and grants them again
-- to the roles granted usage.
DROP FUNCTION IF EXISTS mlops.find_duplicates(regclass);
DROP FUNCTION IF EXISTS mlops.merge_cluster_fingerprint(regclass, bigint[]);
DROP FUNCTION IF EXISTS mlops.merge_failure_record(
    bigint, regclass, bigint, bigint[], text, text, text, text, text, bigint, bigint
);
