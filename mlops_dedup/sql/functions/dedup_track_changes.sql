-- mlops.dedup_track_changes: makes sure the changes of a rule's table are captured for incremental detection
-- (mlops.dedup_capture_changes), or that they no longer are when the rule is not incremental. Called by
-- mlops.merge_duplicates before detection, in a transaction of its own: creating a trigger locks the table against
-- writes, so only for that instant. Trigger: needs the TRIGGER privilege on the table; dropping one needs its owner.

CREATE OR REPLACE FUNCTION mlops.dedup_track_changes(p_target regclass)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
-- per batch of a run: JIT compiles for longer than these statements run (rough estimates on scratch tables)
SET jit = off
AS $$
DECLARE
    v_key text := mlops.key_column(p_target);
    v_wanted boolean;
    v_plain boolean;
    v_safe_key boolean;
    v_present integer;
    v_event text;
BEGIN
    -- a learned rule reads the whole table each run (its blocking keys are not stored): nothing to capture
    SELECT r.incremental AND r.comparisons IS NULL INTO v_wanted FROM mlops.dedup_rules AS r WHERE r.target = p_target;
    -- Statement triggers see the rows of statements on the table itself: a partitioned table's partitions and an
    -- inheritance parent's children are written to directly, past them.
    SELECT c.relkind = 'r' AND NOT c.relhassubclass INTO v_plain FROM pg_catalog.pg_class AS c WHERE c.oid = p_target;
    -- The capture function runs as the package's owner: it reads keys only of a type a superuser owns, whose text
    -- no one else can change with a cast (a domain's base type counts; casts from a domain are never used).
    SELECT r.rolsuper INTO v_safe_key
    FROM pg_catalog.pg_type AS y INNER JOIN pg_catalog.pg_roles AS r ON r.oid = y.typowner
    WHERE y.oid = mlops.key_base_type(p_target);
    SELECT count(*) INTO v_present
    FROM pg_catalog.pg_trigger AS t
    WHERE t.tgrelid = p_target AND t.tgfoid = 'mlops.dedup_capture_changes()'::regprocedure;
    IF coalesce(v_wanted, false) AND v_plain AND coalesce(v_safe_key, false) AND mlops.dedup_changes_captured(p_target)
    THEN
        RETURN true;
    END IF;
    IF coalesce(v_wanted, false) AND NOT v_plain THEN
        RAISE NOTICE 'incremental detection needs a plain table: every run reads all of %', p_target
            USING HINT = 'Its statement triggers would not see rows written to partitions or child tables directly.';
    ELSIF coalesce(v_wanted, false) AND NOT coalesce(v_safe_key, false) THEN
        RAISE NOTICE 'incremental detection needs a key of a built-in type (or a domain over one): every run reads all '
            'of %', p_target
            USING HINT = 'The capture trigger runs with the package owner''s rights; it reads no value of a type a '
                'role other than a superuser could give a cast.';
    ELSIF coalesce(v_wanted, false) AND NOT pg_catalog.has_table_privilege(p_target, 'TRIGGER') THEN
        RAISE NOTICE 'incremental detection needs the TRIGGER privilege on %: every run reads the whole table',
            p_target
            USING HINT = format('GRANT TRIGGER ON %s TO %I; or UPDATE mlops.dedup_rules SET incremental = false '
                'WHERE target = %L::regclass;', p_target, current_user, p_target);
    ELSIF coalesce(v_wanted, false) THEN
        -- (re)created: the key column renamed or replaced since makes the old ones record the wrong field
        FOREACH v_event IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
            EXECUTE format(
                'CREATE OR REPLACE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT'
                ' EXECUTE FUNCTION mlops.dedup_capture_changes(%L)',
                'mlops_dedup_capture_' || v_event, upper(v_event), p_target,
                CASE v_event
                    WHEN 'insert' THEN 'REFERENCING NEW TABLE AS mlops_dedup_new_rows'
                    WHEN 'update' THEN 'REFERENCING OLD TABLE AS mlops_dedup_old_rows NEW TABLE AS mlops_dedup_new_rows'
                    WHEN 'delete' THEN 'REFERENCING OLD TABLE AS mlops_dedup_old_rows'
                    ELSE '' END,
                v_key
            );
            -- the table's owner's role may also make them fire for replicated writes (session_replication_role
            -- replica: a logical-replication subscriber, pg_restore): they would be missed otherwise
            IF EXISTS (
                SELECT FROM pg_catalog.pg_class AS c
                WHERE c.oid = p_target AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
            ) THEN
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', p_target, 'mlops_dedup_capture_' || v_event);
            END IF;
        END LOOP;
        -- what was stored before the triggers existed is not known to be current
        DELETE FROM mlops.dedup_state AS s WHERE s.target = p_target;
        RETURN true;
    END IF;
    -- Not tracked: the stored signatures go stale, so they go; triggers left from an incremental rule go when this
    -- role may drop them (they record nothing for a rule that is not incremental).
    DELETE FROM mlops.dedup_state AS s WHERE s.target = p_target;
    DELETE FROM mlops.dedup_signatures AS s WHERE s.target = p_target;
    DELETE FROM mlops.dedup_changes AS c WHERE c.target = p_target;
    IF v_present > 0 AND EXISTS (
        SELECT FROM pg_catalog.pg_class AS c WHERE c.oid = p_target AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    ) THEN
        FOREACH v_event IN ARRAY ARRAY['insert', 'update', 'delete', 'truncate'] LOOP
            EXECUTE format('DROP TRIGGER IF EXISTS %I ON %s', 'mlops_dedup_capture_' || v_event, p_target);
        END LOOP;
    END IF;
    RETURN false;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_track_changes(regclass) IS
'Internal helper of mlops.merge_duplicates: for a rule with incremental = true and no comparisons (learned rules '
'read the whole table each run) on a plain table (no partitions, no '
'inheritance children) with a key of a type a superuser owns (built-in, or a domain over one) and whose TRIGGER '
'privilege the caller has, makes sure the four statement-level capture triggers '
'mlops_dedup_capture_{insert,update,delete,truncate} (mlops.dedup_capture_changes) exist and are enabled (ALWAYS, '
'when the caller has the table owner''s rights: replicated writes too) and returns true; '
'otherwise returns false (NOTICE saying why), deletes the table''s stored signatures and changes, and drops capture '
'triggers left from an incremental rule when the caller has the table owner''s rights.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_track_changes(regclass) FROM PUBLIC;
