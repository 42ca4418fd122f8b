-- mlops.reference_type_fits: whether a column of one type can hold keys of another, the rule both a declared
-- reference and the audit's guesses follow: the same type (domains by their base type), a cast PostgreSQL knows
-- (bigint holding integer keys), a string column (text holding uuids), or a number or uuid column under a string key.

CREATE OR REPLACE FUNCTION mlops.reference_type_fits(p_column_type regtype, p_key_type regtype)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_column oid := p_column_type;
    v_key oid := p_key_type;
    v_column_category "char";
    v_key_category "char";
BEGIN
    IF p_column_type IS NULL OR p_key_type IS NULL THEN
        RETURN NULL;
    END IF;
    -- a domain holds what its base type holds
    WHILE (SELECT t.typtype FROM pg_catalog.pg_type AS t WHERE t.oid = v_column) = 'd' LOOP
        v_column := (SELECT t.typbasetype FROM pg_catalog.pg_type AS t WHERE t.oid = v_column);
    END LOOP;
    WHILE (SELECT t.typtype FROM pg_catalog.pg_type AS t WHERE t.oid = v_key) = 'd' LOOP
        v_key := (SELECT t.typbasetype FROM pg_catalog.pg_type AS t WHERE t.oid = v_key);
    END LOOP;
    IF v_column = v_key THEN
        RETURN TRUE;
    END IF;
    -- json/jsonb hold keys only at a path (declared_references.json_path), arrays hold lists of keys: neither is a
    -- reference column itself.
    IF v_column IN ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype) THEN
        RETURN FALSE;
    END IF;
    SELECT t.typcategory INTO v_column_category FROM pg_catalog.pg_type AS t WHERE t.oid = v_column;
    SELECT t.typcategory INTO v_key_category FROM pg_catalog.pg_type AS t WHERE t.oid = v_key;
    IF v_column_category = 'A' THEN
        RETURN FALSE;
    END IF;
    RETURN EXISTS (
        SELECT FROM pg_catalog.pg_cast AS c WHERE c.castsource = v_column AND c.casttarget = v_key
    )
    OR v_column_category = 'S'
    OR (v_key_category = 'S' AND v_column_category IN ('N', 'U'));
END;
$$;

COMMENT ON FUNCTION mlops.reference_type_fits(regtype, regtype) IS
'Internal: true when a column of type p_column_type can hold keys of type p_key_type, its values read as keys '
'through their text: the same type (domains by their base type), a cast from the one to the other in pg_cast '
'(bigint holding integer keys), a string-category column (text or varchar holding uuids, integers, …), or a '
'numeric or uuid column under a string-category key. False for json/jsonb (keys at a path only) and arrays. NULL '
'for NULL input. Raises nothing.';

REVOKE EXECUTE ON FUNCTION mlops.reference_type_fits(regtype, regtype) FROM PUBLIC;
