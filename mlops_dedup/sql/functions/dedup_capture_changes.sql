-- mlops.dedup_capture_changes: the trigger function behind incremental detection. Statement-level AFTER triggers on
-- a rule's table (created by mlops.dedup_track_changes) record the keys of the rows a statement inserted, updated or
-- deleted in mlops.dedup_changes; a TRUNCATE records a NULL key (the next run is a full pass). One INSERT ... SELECT
-- per statement over its transition tables, reading the key column only (60 us to plan a statement, under 1 us a
-- row).
-- SECURITY DEFINER, so the application's roles need no rights on the package: it therefore runs no code anyone but a
-- superuser wrote. It reads nothing of the row but the key (to_jsonb of the row would call casts to json of any
-- column's type, which the table's owner may write), and dedup_track_changes creates it only for keys whose type a
-- superuser owns (so no one else can write their cast to text). The key's text does not depend on the writer's
-- settings (DateStyle, TimeZone, ... are fixed below), so a run reads it back as the same value. The key column's
-- name is the trigger's argument, quoted with %I once it is known to be a column of the table.

CREATE OR REPLACE FUNCTION mlops.dedup_capture_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET datestyle = 'ISO, MDY'
SET intervalstyle = 'postgres'
SET timezone = 'UTC'
SET extra_float_digits = 3
AS $$
BEGIN
    -- a rule deleted or made non-incremental since the trigger was created: nothing to record (the rule's change
    -- removed its stored state, so its next run is a full pass)
    IF NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = tg_relid AND r.incremental) THEN
        RETURN NULL;
    END IF;
    IF tg_op = 'TRUNCATE' OR tg_nargs <> 1 OR NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = tg_relid AND a.attname = tg_argv[0] AND a.attnum > 0 AND NOT a.attisdropped
    ) THEN
        -- truncated, or the key column renamed or dropped since: the next run is a full pass
        INSERT INTO mlops.dedup_changes (target, key) VALUES (tg_relid, NULL);
        RETURN NULL;
    END IF;
    IF tg_op = 'UPDATE' THEN
        -- the new keys, and old keys the statement changed (their signatures must go), each once
        EXECUTE format(
            'INSERT INTO mlops.dedup_changes (target, key)'
            ' SELECT $1, (c.%1$I)::pg_catalog.text FROM mlops_dedup_new_rows AS c'
            ' UNION SELECT $1, (c.%1$I)::pg_catalog.text FROM mlops_dedup_old_rows AS c',
            tg_argv[0]
        ) USING tg_relid;
    ELSE
        EXECUTE format(
            'INSERT INTO mlops.dedup_changes (target, key) SELECT $1, (c.%I)::pg_catalog.text FROM %I AS c',
            tg_argv[0], CASE tg_op WHEN 'INSERT' THEN 'mlops_dedup_new_rows' ELSE 'mlops_dedup_old_rows' END
        ) USING tg_relid;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_capture_changes() IS
'Internal trigger function (statement-level AFTER INSERT/UPDATE/DELETE with transition tables mlops_dedup_new_rows '
'and mlops_dedup_old_rows, and AFTER TRUNCATE), created on a rule''s table by mlops.dedup_track_changes with the key '
'column''s name as argument: appends the changed rows'' keys (as text, ISO dates, UTC) to mlops.dedup_changes; a '
'TRUNCATE, or a key column no longer there, appends a NULL key, which makes the next run a full pass. Does nothing '
'for a table without an incremental rule. SECURITY DEFINER; reads only the key column.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_capture_changes() FROM PUBLIC;
