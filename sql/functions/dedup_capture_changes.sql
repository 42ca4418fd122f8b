-- mlops.dedup_capture_changes: the trigger function behind incremental detection. Statement-level AFTER triggers on
-- a rule's table (created by mlops.dedup_track_changes) record the keys of the rows a statement inserted, updated or
-- deleted in mlops.dedup_changes; a TRUNCATE records a NULL key (the next run is a full pass). One INSERT ... SELECT
-- per statement over its transition table, with no dynamic SQL, so the application's writes pay little.
-- SECURITY DEFINER: the application's roles need no rights on the package; the function runs no SQL of anyone's
-- and writes only the keys of the rows the firing statement changed. The key column's name comes as the trigger's
-- argument and is used as data (a jsonb field name), never as SQL.

CREATE OR REPLACE FUNCTION mlops.dedup_capture_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- a rule deleted or made non-incremental since the trigger was created: nothing to record
    IF NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = tg_relid AND r.incremental) THEN
        RETURN NULL;
    END IF;
    IF tg_op = 'TRUNCATE' OR tg_nargs < 1 THEN
        INSERT INTO mlops.dedup_changes (target, key) VALUES (tg_relid, NULL);
    ELSIF tg_op = 'INSERT' THEN
        INSERT INTO mlops.dedup_changes (target, key)
        SELECT tg_relid, pg_catalog.to_jsonb(n.*) ->> tg_argv[0] FROM mlops_dedup_new_rows AS n;
    ELSIF tg_op = 'DELETE' THEN
        INSERT INTO mlops.dedup_changes (target, key)
        SELECT tg_relid, pg_catalog.to_jsonb(o.*) ->> tg_argv[0] FROM mlops_dedup_old_rows AS o;
    ELSE
        -- an UPDATE: the new keys, and old keys the statement changed (their signatures must go)
        INSERT INTO mlops.dedup_changes (target, key)
        SELECT tg_relid, k.key
        FROM (
            SELECT pg_catalog.to_jsonb(n.*) ->> tg_argv[0] AS key FROM mlops_dedup_new_rows AS n
            UNION
            SELECT pg_catalog.to_jsonb(o.*) ->> tg_argv[0] FROM mlops_dedup_old_rows AS o
        ) AS k;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_capture_changes() IS
'Internal trigger function (statement-level AFTER INSERT/UPDATE/DELETE with transition tables mlops_dedup_new_rows '
'and mlops_dedup_old_rows, and AFTER TRUNCATE), created on a rule''s table by mlops.dedup_track_changes with the key '
'column''s name as argument: appends the changed rows'' keys (as text) to mlops.dedup_changes; a TRUNCATE, or a '
'key that cannot be read, appends a NULL key, which makes the next run a full pass. Does nothing for a table '
'without an incremental rule.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_capture_changes() FROM PUBLIC;
