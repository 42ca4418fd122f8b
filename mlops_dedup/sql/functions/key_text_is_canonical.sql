-- mlops.key_text_is_canonical: whether equal keys of a table always have the same canonical text, so that "was this
-- key merged?" can be asked of the merge log by text alone (mlops.merges.loser_keys, its GIN index).

CREATE OR REPLACE FUNCTION mlops.key_text_is_canonical(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_base regtype;
    v_collation oid;
BEGIN
    v_base := mlops.key_base_type(p_table);
    IF v_base IS NULL THEN
        PERFORM mlops.key_refusal(p_table, true);
    END IF;
    IF v_base IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype,
        'pg_catalog.uuid'::regtype, 'pg_catalog.oid'::regtype, 'pg_catalog.bool'::regtype) THEN
        RETURN true;
    END IF;
    IF v_base IN ('pg_catalog.text'::regtype, 'pg_catalog.varchar'::regtype, 'pg_catalog.bpchar'::regtype) THEN
        -- bpchar's text drops the padding its equality ignores; a nondeterministic collation ('A' = 'a') does not
        SELECT i.indcollation[0] INTO v_collation
        FROM pg_catalog.pg_index AS i WHERE i.indrelid = p_table AND i.indisprimary;
        RETURN coalesce((
            SELECT c.collisdeterministic FROM pg_catalog.pg_collation AS c WHERE c.oid = v_collation
        ), true);
    END IF;
    -- numeric (1.5 = 1.50), citext ('A' = 'a'), floats (0 = -0), timestamptz (one instant, many offsets), ...
    RETURN false;
END;
$$;

COMMENT ON FUNCTION mlops.key_text_is_canonical(regclass) IS
'Internal: true when two equal keys of the table always have the same text (integers and domains over them, uuid, '
'oid, boolean, and text, varchar or bpchar under a deterministic collation), so a key is found in '
'mlops.merges.loser_keys by its text; false for numeric, citext, floats, timestamps and other types whose equal '
'values can print differently. Raises 0A000 for a table without a single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_text_is_canonical(regclass) FROM PUBLIC;
