-- mlops.comparison_base_type: the type a comparison is treated as: a domain's base type, else the type itself.

CREATE OR REPLACE FUNCTION mlops.comparison_base_type(p_type regtype)
RETURNS regtype
LANGUAGE sql
STABLE
STRICT
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN t.typbasetype::pg_catalog.regtype ELSE p_type END
    FROM pg_catalog.pg_type AS t WHERE t.oid OPERATOR(pg_catalog.=) p_type;
$$;

COMMENT ON FUNCTION mlops.comparison_base_type(regtype) IS
'Stable: the base type (regtype) of a domain, or the type itself; what a comparison''s kind and spelling go by.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_base_type(regtype) FROM PUBLIC;
