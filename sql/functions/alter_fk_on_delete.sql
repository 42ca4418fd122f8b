-- mlops.alter_fk_on_delete: changes a foreign key's ON DELETE action without a long lock: a new constraint NOT VALID
-- (no scan), then VALIDATE (scans, but lets writes go on), then drop the old one and give the new one its name, each
-- step its own short transaction. Re-runnable: an FK already so is left alone, an interrupted change is finished.

CREATE OR REPLACE PROCEDURE mlops.alter_fk_on_delete(p_table regclass, p_constraint name, p_on_delete text)
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    v_action text := upper(btrim(p_on_delete));
    v_fk record;
    v_pending record;
    v_pending_name name;
    v_relkind "char";
    v_lock_timeout CONSTANT text := '10s';
BEGIN
    -- A procedure that COMMITs cannot carry a SET clause: pin the search path for each transaction here.
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM mlops.assert_not_in_transaction_block(
        'mlops.alter_fk_on_delete',
        'CALL it in autocommit mode (outside BEGIN ... COMMIT; psycopg: autocommit=True).'
    );
    PERFORM mlops.assert_table(p_table);
    IF v_action IS NULL OR v_action NOT IN ('NO ACTION', 'RESTRICT', 'CASCADE', 'SET NULL', 'SET DEFAULT') THEN
        RAISE EXCEPTION 'ON DELETE action must be NO ACTION, RESTRICT, CASCADE, SET NULL or SET DEFAULT, got %',
            coalesce(quote_literal(p_on_delete), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT c.oid, c.conname, c.confdeltype, c.convalidated, c.conparentid INTO v_fk
    FROM pg_catalog.pg_constraint AS c
    WHERE c.conrelid = p_table AND c.conname = p_constraint AND c.contype = 'f';
    IF v_fk.oid IS NULL THEN
        RAISE EXCEPTION 'table % has no foreign key named %', p_table, coalesce(quote_ident(p_constraint), 'NULL')
            USING ERRCODE = 'undefined_object',
            HINT = coalesce('Its foreign keys: ' || (
                SELECT string_agg(c.conname::text, ', ' ORDER BY c.conname) FROM pg_catalog.pg_constraint AS c
                WHERE c.conrelid = p_table AND c.contype = 'f'
            ) || '.', 'It has no foreign keys.');
    END IF;
    IF v_fk.conparentid <> 0 THEN
        RAISE EXCEPTION 'foreign key % of % is inherited from its partitioned table', p_constraint, p_table
            USING ERRCODE = 'wrong_object_type',
            HINT = 'Change it on the partitioned table; its partitions follow.';
    END IF;
    -- Name of the constraint while both exist: 63 bytes at most, like every identifier.
    v_pending_name := left(p_constraint, 55) || '_pending';
    SELECT c.oid, c.confdeltype, c.convalidated INTO v_pending
    FROM pg_catalog.pg_constraint AS c
    WHERE c.conrelid = p_table AND c.conname = v_pending_name AND c.contype = 'f';

    IF mlops.fk_action_name(v_fk.confdeltype) = v_action AND v_fk.convalidated AND v_pending.oid IS NULL THEN
        RAISE NOTICE '%.% is ON DELETE % already; nothing changed', p_table, p_constraint, v_action;
        RETURN;
    END IF;
    SELECT c.relkind INTO v_relkind FROM pg_catalog.pg_class AS c WHERE c.oid = p_table;
    COMMIT;
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);

    -- 1. The new constraint, NOT VALID: checked for new rows at once, old rows not scanned. (A leftover of an
    --    interrupted change to another action is replaced.) A partitioned table cannot take NOT VALID foreign keys
    --    in PostgreSQL 15: there the constraint is added validated, scanning under the lock.
    PERFORM set_config('lock_timeout', v_lock_timeout, true);
    IF v_pending.oid IS NOT NULL AND mlops.fk_action_name(v_pending.confdeltype) <> v_action THEN
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, v_pending_name);
        v_pending := NULL;
    END IF;
    IF v_pending.oid IS NULL THEN
        EXECUTE (
            SELECT format(
                'ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s)%s ON UPDATE %s ON DELETE %s%s%s',
                p_table, v_pending_name,
                (SELECT string_agg(format('%I', x), ', ' ORDER BY o) FROM unnest(k.referencing_columns)
                    WITH ORDINALITY AS u (x, o)),
                k.referenced_table,
                (SELECT string_agg(format('%I', x), ', ' ORDER BY o) FROM unnest(k.referenced_columns)
                    WITH ORDINALITY AS u (x, o)),
                CASE c.confmatchtype WHEN 'f' THEN ' MATCH FULL' ELSE '' END,
                k.on_update, v_action,
                CASE WHEN k.is_deferrable THEN ' DEFERRABLE' ELSE '' END
                || CASE WHEN k.initially_deferred THEN ' INITIALLY DEFERRED' ELSE '' END,
                CASE WHEN v_relkind = 'p' THEN '' ELSE ' NOT VALID' END
            )
            FROM mlops.foreign_key_catalog() AS k
            INNER JOIN pg_catalog.pg_constraint AS c ON k.fk_oid = c.oid
            WHERE k.fk_oid = v_fk.oid
        );
        COMMIT;
        PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
        PERFORM set_config('lock_timeout', v_lock_timeout, true);
    END IF;

    -- 2. VALIDATE scans the table under SHARE UPDATE EXCLUSIVE: inserts, updates and deletes go on meanwhile.
    EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', p_table, v_pending_name);
    COMMIT;
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM set_config('lock_timeout', v_lock_timeout, true);

    -- 3. Swap in one short transaction: the old constraint goes, the new one takes its name.
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, p_constraint);
    EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', p_table, v_pending_name, p_constraint);
    COMMIT;
    RAISE NOTICE '%.% is now ON DELETE % (was %)', p_table, p_constraint, v_action,
        mlops.fk_action_name(v_fk.confdeltype);
END;
$$;

COMMENT ON PROCEDURE mlops.alter_fk_on_delete (regclass, name, text) IS
'Changes the ON DELETE action of foreign key p_constraint of p_table (NO ACTION, RESTRICT, CASCADE, SET NULL, '
'SET DEFAULT) keeping its name, columns, ON UPDATE, MATCH and deferrability: adds it NOT VALID, validates, swaps, '
'each step committed (autocommit CALL only, 25000 otherwise). Idempotent; finishes an interrupted change. Errors: '
'42704 no such FK (HINT lists the table''s FKs), 22023 unknown action, 42809 an FK inherited from a partitioned '
'table; lock_timeout 10 s per step (55P03).';

REVOKE EXECUTE ON PROCEDURE mlops.alter_fk_on_delete(regclass, name, text) FROM PUBLIC;
