-- mlops.fk_action_name: pg_constraint's one-letter FK action code, spelled as SQL spells it.

CREATE OR REPLACE FUNCTION mlops.fk_action_name(p_code "char")
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN CASE p_code
        WHEN 'a' THEN 'NO ACTION'
        WHEN 'r' THEN 'RESTRICT'
        WHEN 'c' THEN 'CASCADE'
        WHEN 'n' THEN 'SET NULL'
        WHEN 'd' THEN 'SET DEFAULT'
    END;
END;
$$;

COMMENT ON FUNCTION mlops.fk_action_name("char") IS
'Spells a pg_constraint.confdeltype / confupdtype code as SQL does (NO ACTION, RESTRICT, CASCADE, SET NULL, '
'SET DEFAULT).';

REVOKE EXECUTE ON FUNCTION mlops.fk_action_name("char") FROM PUBLIC;
