-- mlops.resolve_id: the id a row lives under now, following merges; for crawlers and APIs that still hold old ids.

CREATE OR REPLACE FUNCTION mlops.resolve_id(p_target regclass, p_id bigint)
RETURNS bigint
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_id bigint := p_id;
    v_next bigint;
    v_key text;
    v_exists boolean;
BEGIN
    PERFORM mlops.assert_table(p_target);
    IF p_id IS NULL THEN
        RETURN NULL;
    END IF;
    v_key := mlops.integer_key_column(p_target);
    IF v_key IS NULL THEN
        RAISE EXCEPTION '% has no single-column integer primary key, so its rows are never merged', p_target
            USING ERRCODE = 'feature_not_supported';
    END IF;
    -- A chain is at most as long as the number of merges; the bound only guards against a corrupted log.
    FOR v_step IN 1..10000 LOOP
        SELECT m.survivor_id INTO v_next
        FROM mlops.merges AS m
        WHERE m.target = p_target AND m.undone_at IS NULL AND m.loser_ids @> ARRAY[v_id]
            AND mlops.merge_log_trusted(m.merged_by)  -- a less privileged role's record does not steer this one
        ORDER BY m.merge_id DESC
        LIMIT 1;
        EXIT WHEN v_next IS NULL;
        v_id := v_next;
    END LOOP;
    EXECUTE format('SELECT EXISTS (SELECT FROM %s AS t WHERE t.%I = $1)', p_target, v_key) INTO v_exists USING v_id;
    RETURN CASE WHEN v_exists THEN v_id END;
END;
$$;

COMMENT ON FUNCTION mlops.resolve_id(regclass, bigint) IS
'The id a row of the table lives under now: follows merges (not undone) from loser to survivor, chains included. '
'The id itself for a row never merged; NULL for an id that exists nowhere. Follows only merges recorded by roles '
'with the caller''s rights (mlops.merge_log_trusted).';

REVOKE EXECUTE ON FUNCTION mlops.resolve_id(regclass, bigint) FROM PUBLIC;
