-- mlops.resolve_id: the key a row lives under now, following merges; for crawlers and APIs that still hold old keys.
-- Takes and returns the caller's type (bigint, integer, uuid, text, ...), whatever the key's type is.

CREATE OR REPLACE FUNCTION mlops.resolve_id(p_target regclass, p_id anycompatible)
RETURNS anycompatible
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text;
    v_next text;
    v_held boolean;
    v_type text;
    v_result p_id%TYPE;
BEGIN
    PERFORM mlops.assert_table(p_target);
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM mlops.key_refusal(p_target, true);
    -- The key as the log writes it: cast to the key type (its own error, naming the table, when it cannot be read)
    -- and printed canonically; for types with several texts per value, the text of the row that holds it.
    v_key := (mlops.key_texts(p_target, ARRAY[p_id]))[1];
    -- A chain is at most as long as the number of merges; the bound only guards against a corrupted log.
    FOR v_step IN 1..10000 LOOP
        SELECT m.survivor_key INTO v_next
        FROM mlops.merges AS m
        WHERE m.target = p_target AND m.undone_at IS NULL AND m.loser_keys @> ARRAY[v_key]
            AND mlops.merge_log_trusted(m.merged_by)  -- a less privileged role's record does not steer this one
        ORDER BY m.merge_id DESC
        LIMIT 1;
        IF v_next IS NULL AND v_step = 1 AND NOT mlops.key_text_is_canonical(p_target) THEN
            -- An equal key written another way ('alfka' for citext 'ALFKA', 1.5 for numeric 1.50) whose row was
            -- deleted by its merge: compare the log's keys as values of the key type, with its own equality. Only
            -- for such types, and only when no row holds the key (a row that does was taken by its text above).
            EXECUTE format('SELECT EXISTS (SELECT FROM %s AS t WHERE %s)', p_target,
                mlops.key_match_sql(p_target, 't', '$1', false)) INTO v_held USING v_key;
            IF NOT v_held THEN
                EXECUTE format(
                    'SELECT m.survivor_key FROM mlops.merges AS m'
                    ' WHERE m.target = $1 AND m.undone_at IS NULL AND mlops.merge_log_trusted(m.merged_by) AND %s'
                    ' ORDER BY m.merge_id DESC LIMIT 1',
                    mlops.loser_keys_match_sql(p_target, 'm', 'ARRAY[$2]')
                ) INTO v_next USING p_target, v_key;
            END IF;
        END IF;
        EXIT WHEN v_next IS NULL;
        v_key := v_next;
    END LOOP;
    -- The row's own key (as stored: 'ALFKI' for citext 'alfki'), NULL when no row holds it, in the caller's type
    -- (text in, text out; uuid in, uuid out): its text read by that type's input. The type by its own name, without
    -- a type modifier ("character" would be char(1)).
    SELECT format('%I.%I', n.nspname, t.typname) INTO v_type
    FROM pg_catalog.pg_type AS t INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE t.oid = pg_catalog.pg_typeof(p_id);
    EXECUTE format('SELECT (%s)::%s FROM %s AS t WHERE %s LIMIT 1',
        mlops.key_text_sql(p_target, format('t.%I', mlops.key_column(p_target))), v_type, p_target,
        mlops.key_match_sql(p_target, 't', '$1', false)
    ) INTO v_result USING v_key;
    RETURN v_result;
END;
$$;

COMMENT ON FUNCTION mlops.resolve_id(regclass, anycompatible) IS
'The key a row of the table lives under now, in the type of p_id: follows merges (not undone) from loser to '
'survivor, chains included. The row''s own key for a row never merged; NULL for a key that exists nowhere. p_id may '
'be of the key''s type or of one it can be cast from (an integer for an integer key, text for uuid, text or varchar '
'keys); keys are compared with the key type''s equality (citext ''alfki'' finds ''ALFKI''). A value the key type '
'cannot read raises the cast''s SQLSTATE naming the table (22P02 for ''x'' as a uuid, 42846 for an integer as a '
'uuid); a survivor key the argument''s type cannot hold raises that type''s input error (22003 for a bigint key '
'beyond integer). 0A000 for a table without a single-column primary key. Follows only merges recorded by roles with '
'the caller''s rights (mlops.merge_log_trusted).';

REVOKE EXECUTE ON FUNCTION mlops.resolve_id(regclass, anycompatible) FROM PUBLIC;
