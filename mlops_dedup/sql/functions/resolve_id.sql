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
    v_live text;
    v_survivor text;
    v_held boolean;
    v_type text;
    v_result p_id%TYPE;
BEGIN
    PERFORM mlops.assert_table(p_target);
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    -- The key as the log writes it: an integer for an integer key (the common call) is its own text; anything else
    -- is cast to the key type (its own error, naming the table, when it cannot be read; 0A000 for a table without a
    -- single-column primary key) and printed canonically, for types with several texts per value as the row that
    -- holds it prints.
    IF pg_catalog.pg_typeof(p_id) IN (
            'pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype
        ) AND mlops.key_base_type(p_target) IN (
            'pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype
        ) THEN
        v_key := p_id::text;
    ELSE
        v_key := (mlops.key_texts(p_target, ARRAY[p_id]))[1];
    END IF;
    SELECT e.live_key INTO v_live FROM mlops.merge_chain_ends(p_target, ARRAY[v_key]) AS e;
    IF v_live IS NULL AND NOT mlops.key_text_is_canonical(p_target) THEN
        -- An equal key written another way ('alfka' for citext 'ALFKA', 2.5 for numeric 2.50) whose row its merge
        -- deleted: compare the log's keys as values of the key type, with its own equality. Only for such types,
        -- and only when no row holds the key (a row that does gave its own text above).
        EXECUTE format('SELECT EXISTS (SELECT FROM %s AS t WHERE %s)', p_target,
            mlops.key_match_sql(p_target, 't', '$1', false)) INTO v_held USING v_key;
        IF NOT v_held THEN
            EXECUTE format(
                'SELECT m.survivor_key FROM mlops.merges AS m'
                ' WHERE m.target = $1 AND m.undone_at IS NULL AND mlops.merge_log_trusted(m.merged_by) AND %s'
                ' ORDER BY m.merge_id DESC LIMIT 1',
                mlops.loser_keys_match_sql(p_target, 'm', 'ARRAY[$2]')
            ) INTO v_survivor USING p_target, v_key;
            SELECT e.live_key INTO v_live FROM mlops.merge_chain_ends(p_target, ARRAY[v_survivor]) AS e;
        END IF;
    END IF;
    IF v_live IS NULL THEN
        RETURN NULL;
    END IF;
    -- Back in the caller's type (text in, text out; uuid in, uuid out), by the type's own name, without a type
    -- modifier ("character" would be char(1)).
    SELECT format('%I.%I', n.nspname, t.typname) INTO v_type
    FROM pg_catalog.pg_type AS t INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
    WHERE t.oid = pg_catalog.pg_typeof(p_id);
    EXECUTE format('SELECT ($1)::%s', v_type) INTO v_result USING v_live;
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
