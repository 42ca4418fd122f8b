-- mlops.alter_fk_on_delete: changes a foreign key's ON DELETE action without a long lock: a new constraint NOT VALID
-- (no scan), then VALIDATE (scans, but lets writes go on), then drop the old one and give the new one its name, each
-- step its own short transaction. Re-runnable: an FK already so is left alone, an interrupted change is finished.

CREATE OR REPLACE PROCEDURE mlops.alter_fk_on_delete(p_table regclass, p_constraint name, p_on_delete text)
LANGUAGE plpgsql
SECURITY INVOKER
AS $$
DECLARE
    v_lock_timeout CONSTANT text := '10s';
    v_suffix CONSTANT text := '_pending';
    v_action text;
    v_code "char";
    v_fk record;
    v_was text;
    v_pending record;
    v_pending_name name;
    v_base text;
    v_relkind "char";
    v_sql text;
    v_not_null text;
    v_comment text;
    v_done text;
    v_child record;
BEGIN
    -- A procedure that COMMITs cannot carry a SET clause: pin the search path for each transaction here, first.
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM mlops.assert_not_in_transaction_block(
        'mlops.alter_fk_on_delete',
        'CALL it in autocommit mode (outside BEGIN ... COMMIT; psycopg: autocommit=True).'
    );
    PERFORM mlops.assert_table(p_table);
    -- Case and runs of white space do not matter: ' set   null ' is SET NULL.
    v_action := upper(btrim(regexp_replace(p_on_delete, '\s+', ' ', 'g')));
    v_code := CASE v_action
        WHEN 'NO ACTION' THEN 'a' WHEN 'RESTRICT' THEN 'r' WHEN 'CASCADE' THEN 'c'
        WHEN 'SET NULL' THEN 'n' WHEN 'SET DEFAULT' THEN 'd'
    END;
    IF v_code IS NULL THEN
        RAISE EXCEPTION 'ON DELETE action must be NO ACTION, RESTRICT, CASCADE, SET NULL or SET DEFAULT, got %',
            coalesce(quote_literal(p_on_delete), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    SELECT c.oid, c.conkey, c.confdeltype, c.confdelsetcols, c.convalidated, c.conparentid,
        pc.conrelid AS parent_table, pc.conname AS parent_name
    INTO v_fk
    FROM pg_catalog.pg_constraint AS c
    LEFT JOIN pg_catalog.pg_constraint AS pc ON c.conparentid = pc.oid
    WHERE c.conrelid = p_table AND c.conname = p_constraint AND c.contype = 'f';
    IF v_fk.oid IS NULL THEN
        -- The HINT leaves out the copies PostgreSQL keeps for each partition of a partitioned referenced table.
        RAISE EXCEPTION 'table % has no foreign key named %', p_table, coalesce(quote_ident(p_constraint), 'NULL')
            USING ERRCODE = 'undefined_object',
            HINT = coalesce('Its foreign keys: ' || (
                SELECT string_agg(quote_ident(c.conname), ', ' ORDER BY c.conname)
                FROM pg_catalog.pg_constraint AS c
                WHERE c.conrelid = p_table AND c.contype = 'f' AND NOT EXISTS (
                    SELECT FROM pg_catalog.pg_constraint AS pc WHERE pc.oid = c.conparentid AND pc.conrelid = p_table
                )
            ) || '.', 'It has no foreign keys.');
    END IF;
    IF v_fk.conparentid <> 0 AND v_fk.parent_table = p_table THEN
        RAISE EXCEPTION 'foreign key % of % is PostgreSQL''s copy of its foreign key % for one partition of the '
            'referenced table', quote_ident(p_constraint), p_table, quote_ident(v_fk.parent_name)
            USING ERRCODE = 'wrong_object_type',
            HINT = format('Change %s instead; its copies follow.', quote_ident(v_fk.parent_name));
    END IF;
    IF v_fk.conparentid <> 0 THEN
        RAISE EXCEPTION 'foreign key % of % is inherited from its partitioned table %', quote_ident(p_constraint),
            p_table, v_fk.parent_table::regclass
            USING ERRCODE = 'wrong_object_type',
            HINT = 'Change it on the partitioned table; its partitions follow.';
    END IF;
    v_was := mlops.fk_action_name(v_fk.confdeltype) || coalesce(' (' || (
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY u.ord)
        FROM unnest(v_fk.confdelsetcols) WITH ORDINALITY AS u (attnum, ord)
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p_table AND a.attnum = u.attnum
    ) || ')', '');

    -- Name of the constraint while both exist: at most 63 bytes like every identifier, cut on a character boundary
    -- (a longer name would be truncated by PostgreSQL, losing the suffix), never the name itself.
    v_base := p_constraint;
    WHILE octet_length(v_base || v_suffix) > 63 OR v_base || v_suffix = p_constraint LOOP
        v_base := left(v_base, -1);
    END LOOP;
    v_pending_name := v_base || v_suffix;
    -- A constraint of that name is the leftover of an interrupted change only if it is this FK but for ON DELETE.
    SELECT c.oid, c.confdeltype = v_code AND coalesce(cardinality(c.confdelsetcols), 0) = 0 AS is_wanted,
        c.contype = 'f' AND c.conparentid = 0 AND c.confrelid = o.confrelid AND c.conkey = o.conkey
        AND c.confkey = o.confkey AND c.confupdtype = o.confupdtype AND c.confmatchtype = o.confmatchtype
        AND c.condeferrable = o.condeferrable AND c.condeferred = o.condeferred AS is_leftover
    INTO v_pending
    FROM pg_catalog.pg_constraint AS c
    INNER JOIN pg_catalog.pg_constraint AS o ON o.oid = v_fk.oid
    WHERE c.conrelid = p_table AND c.conname = v_pending_name;
    IF v_pending.oid IS NOT NULL AND NOT v_pending.is_leftover THEN
        RAISE EXCEPTION 'table % has a constraint % already, which this change needs as a temporary name',
            p_table, quote_ident(v_pending_name)
            USING ERRCODE = 'duplicate_object',
            DETAIL = 'It is not a leftover of an interrupted change of this foreign key (other definition).',
            HINT = 'Rename or drop that constraint, then call again.';
    END IF;

    IF v_fk.confdeltype = v_code AND coalesce(cardinality(v_fk.confdelsetcols), 0) = 0 THEN
        IF v_pending.oid IS NOT NULL THEN
            -- An interrupted change to another action, then this one: the original is what was asked for.
            PERFORM set_config('lock_timeout', v_lock_timeout, true);
            EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, v_pending_name);
            v_done := format(
                '%s.%s is ON DELETE %s already; dropped the leftover constraint %s of an interrupted change',
                p_table, quote_ident(p_constraint), v_action, quote_ident(v_pending_name)
            );
            COMMIT;
            RAISE NOTICE '%', v_done;
            RETURN;
        END IF;
        RAISE NOTICE '%.% is ON DELETE % already; nothing changed', p_table, quote_ident(p_constraint), v_action;
        RETURN;
    END IF;
    IF v_code IN ('n', 'd') THEN
        SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_not_null
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attnum = ANY (v_fk.conkey) AND a.attnotnull
            AND (v_code = 'n' OR NOT a.atthasdef);
        IF v_not_null IS NOT NULL THEN
            RAISE WARNING 'ON DELETE % on %.%: % NOT NULL%, so deleting a referenced row will fail', v_action,
                p_table, quote_ident(p_constraint), v_not_null,
                CASE WHEN v_code = 'd' THEN ' without a default' ELSE '' END;
        END IF;
    END IF;
    SELECT c.relkind INTO v_relkind FROM pg_catalog.pg_class AS c WHERE c.oid = p_table;
    COMMIT;
    PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
    PERFORM set_config('lock_timeout', v_lock_timeout, true);

    -- 1. The new constraint, NOT VALID: checked for new rows at once, old rows not scanned. A leftover of an
    --    interrupted change to another action is replaced. A partitioned table cannot take NOT VALID foreign keys in
    --    PostgreSQL 15: there the constraint is added validated, scanning under the lock. An FK that was NOT VALID
    --    stays so.
    IF v_pending.oid IS NOT NULL AND NOT v_pending.is_wanted THEN
        EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, v_pending_name);
    END IF;
    IF v_pending.oid IS NULL OR NOT v_pending.is_wanted THEN
        SELECT format(
            'ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (%s) REFERENCES %s (%s)%s ON UPDATE %s ON DELETE %s%s%s%s',
            p_table, v_pending_name, k.referencing, c.confrelid::regclass, k.referenced,
            CASE c.confmatchtype WHEN 'f' THEN ' MATCH FULL' ELSE '' END,
            mlops.fk_action_name(c.confupdtype), v_action,
            CASE WHEN c.condeferrable THEN ' DEFERRABLE' ELSE '' END,
            CASE WHEN c.condeferred THEN ' INITIALLY DEFERRED' ELSE '' END,
            CASE WHEN v_relkind = 'p' THEN '' ELSE ' NOT VALID' END
        ) INTO v_sql
        FROM pg_catalog.pg_constraint AS c
        CROSS JOIN LATERAL (
            SELECT
                string_agg(quote_ident(a.attname), ', ' ORDER BY u.ord) AS referencing,
                string_agg(quote_ident(fa.attname), ', ' ORDER BY u.ord) AS referenced
            FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS u (attnum, fattnum, ord)
            INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = u.attnum
            INNER JOIN pg_catalog.pg_attribute AS fa ON fa.attrelid = c.confrelid AND fa.attnum = u.fattnum
        ) AS k
        WHERE c.oid = v_fk.oid;
        IF v_sql IS NULL THEN
            RAISE EXCEPTION 'foreign key % of % was dropped while it was being changed', quote_ident(p_constraint),
                p_table
                USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
        -- Checked for new rows from here on; old rows are not scanned unless the table is partitioned.
        EXECUTE v_sql;
        COMMIT;
        PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
        PERFORM set_config('lock_timeout', v_lock_timeout, true);
    END IF;

    -- 2. VALIDATE scans the table under SHARE UPDATE EXCLUSIVE: inserts, updates and deletes go on meanwhile.
    IF v_fk.convalidated AND NOT (
        SELECT c.convalidated FROM pg_catalog.pg_constraint AS c
        WHERE c.conrelid = p_table AND c.conname = v_pending_name
    ) THEN
        EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I', p_table, v_pending_name);
        COMMIT;
        PERFORM set_config('search_path', 'pg_catalog, pg_temp', true);
        PERFORM set_config('lock_timeout', v_lock_timeout, true);
    END IF;

    -- 3. Swap in one short transaction: the old constraint goes, the new one takes its name and comment, and so do
    --    the copies PostgreSQL made on each partition.
    v_comment := obj_description(v_fk.oid, 'pg_constraint');
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', p_table, p_constraint);
    EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', p_table, v_pending_name, p_constraint);
    IF v_comment IS NOT NULL THEN
        EXECUTE format('COMMENT ON CONSTRAINT %I ON %s IS %L', p_constraint, p_table, v_comment);
    END IF;
    FOR v_child IN
        WITH RECURSIVE copies AS (
            SELECT c.oid, c.conrelid, c.conname
            FROM pg_catalog.pg_constraint AS c
            WHERE c.conrelid = p_table AND c.conname = p_constraint AND c.contype = 'f'
            UNION ALL
            SELECT c.oid, c.conrelid, c.conname
            FROM pg_catalog.pg_constraint AS c
            INNER JOIN copies AS p ON c.conparentid = p.oid
        )
        SELECT d.conrelid::regclass AS partition
        FROM copies AS d
        WHERE d.conname = v_pending_name AND d.conrelid <> p_table AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_constraint AS x WHERE x.conrelid = d.conrelid AND x.conname = p_constraint
        )
    LOOP
        EXECUTE format('ALTER TABLE %s RENAME CONSTRAINT %I TO %I', v_child.partition, v_pending_name, p_constraint);
    END LOOP;
    v_done := format('%s.%s is now ON DELETE %s (was %s)%s', p_table, quote_ident(p_constraint), v_action, v_was,
        CASE WHEN v_fk.convalidated THEN '' ELSE '; NOT VALID as it was' END);
    COMMIT;
    RAISE NOTICE '%', v_done;
END;
$$;

COMMENT ON PROCEDURE mlops.alter_fk_on_delete (regclass, name, text) IS
'Changes the ON DELETE action of foreign key p_constraint of p_table (NO ACTION, RESTRICT, CASCADE, SET NULL, '
'SET DEFAULT; case and spaces ignored) keeping its name, comment, columns, referenced key, ON UPDATE, MATCH, '
'deferrability and validity: adds it NOT VALID as <name>_pending, validates, swaps, each step committed (autocommit '
'CALL only, 25000 otherwise); on a partitioned table it is added validated. Idempotent (NOTICE); finishes an '
'interrupted change. Errors: 42704 no such FK (HINT lists the table''s FKs), 22023 unknown action, 42809 an FK '
'inherited from a partitioned table, 42710 another constraint holds the temporary name; lock_timeout 10 s per step '
'(55P03).';

REVOKE EXECUTE ON PROCEDURE mlops.alter_fk_on_delete(regclass, name, text) FROM PUBLIC;
