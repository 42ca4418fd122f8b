-- mlops.dedup_capture_changes: the trigger function behind incremental detection. Statement-level AFTER triggers on
-- a rule's table (created by mlops.dedup_track_changes) record the keys of the rows a statement inserted, updated or
-- deleted in mlops.dedup_changes; a TRUNCATE records a NULL key (the next run is a full pass). One INSERT ... SELECT
-- per statement over its transition tables. The application pays for each of its statements, so the two costs are
-- balanced: a statement of a few rows takes the key out of each row as jsonb with static SQL (8 us a statement, 5 us
-- a row: to_jsonb reads the whole row), a bigger one reads the key column itself with dynamic SQL (60 us to plan,
-- under 1 us a row). Measured on single-row inserts and a 10k-row INSERT ... SELECT of 1 KB letters.
-- SECURITY DEFINER: the application's roles need no rights on the package; the function runs no SQL of anyone's
-- and writes only the keys of the rows the firing statement changed. The key column's name comes as the trigger's
-- argument: a jsonb field name, or an identifier quoted with %I once it is known to be a column of the table.

CREATE OR REPLACE FUNCTION mlops.dedup_capture_changes()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- past this many rows a statement's keys are read with dynamic SQL (its planning then costs less than to_jsonb)
    v_few CONSTANT integer := 16;
    v_rows bigint;
    v_sides text[];
    v_side text;
BEGIN
    -- a rule deleted or made non-incremental since the trigger was created: nothing to record
    IF NOT EXISTS (SELECT FROM mlops.dedup_rules AS r WHERE r.target = tg_relid AND r.incremental) THEN
        RETURN NULL;
    END IF;
    IF tg_op = 'TRUNCATE' OR tg_nargs < 1 THEN
        INSERT INTO mlops.dedup_changes (target, key) VALUES (tg_relid, NULL);
        RETURN NULL;
    END IF;
    IF tg_op = 'DELETE' THEN
        SELECT count(*) INTO v_rows FROM mlops_dedup_old_rows;
    ELSE
        SELECT count(*) INTO v_rows FROM mlops_dedup_new_rows;
    END IF;
    IF v_rows = 0 THEN
        RETURN NULL;
    END IF;
    IF v_rows > v_few AND EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = tg_relid AND a.attname = tg_argv[0] AND a.attnum > 0 AND NOT a.attisdropped
    ) THEN
        -- an UPDATE records the new keys and the old ones (a changed key's signatures must go)
        v_sides := CASE tg_op WHEN 'INSERT' THEN ARRAY['mlops_dedup_new_rows']
            WHEN 'DELETE' THEN ARRAY['mlops_dedup_old_rows']
            ELSE ARRAY['mlops_dedup_new_rows', 'mlops_dedup_old_rows'] END;
        FOREACH v_side IN ARRAY v_sides LOOP
            EXECUTE format(
                'INSERT INTO mlops.dedup_changes (target, key) SELECT $1, (c.%I)::pg_catalog.text FROM %I AS c',
                tg_argv[0], v_side
            ) USING tg_relid;
        END LOOP;
    ELSIF tg_op = 'INSERT' THEN
        -- a key column renamed since the trigger was made reads as NULL: the next run is a full pass
        INSERT INTO mlops.dedup_changes (target, key)
        SELECT tg_relid, pg_catalog.to_jsonb(n.*) ->> tg_argv[0] FROM mlops_dedup_new_rows AS n;
    ELSIF tg_op = 'DELETE' THEN
        INSERT INTO mlops.dedup_changes (target, key)
        SELECT tg_relid, pg_catalog.to_jsonb(o.*) ->> tg_argv[0] FROM mlops_dedup_old_rows AS o;
    ELSE
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
