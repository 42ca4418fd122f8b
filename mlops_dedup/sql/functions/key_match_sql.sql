-- mlops.key_match_sql: the condition "this row's key is the key (or one of the keys) given as text", written with
-- the primary key index's own equality operator, schema-qualified: plain "=" under the package's pinned search path
-- would miss an extension type's operator (citext's lives in the extension's schema) and compare as text.

CREATE OR REPLACE FUNCTION mlops.key_match_sql(
    p_table regclass, p_alias text, p_keys_sql text, p_many boolean DEFAULT TRUE, p_value_sql text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_operator text;
    v_column text;
    v_type text;
    v_value text;
BEGIN
    -- one catalog query: the key column, its type for the cast, and the primary key index's equality operator
    -- (called many times per merge, so no nested lookups)
    SELECT a.attname::text, format('%I.%I', tn.nspname, t.typname), format('OPERATOR(%I.%s)', n.nspname, o.oprname)
    INTO v_column, v_type, v_operator
    FROM pg_catalog.pg_index AS i
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
    INNER JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
    INNER JOIN pg_catalog.pg_namespace AS tn ON tn.oid = t.typnamespace
    INNER JOIN pg_catalog.pg_opclass AS c ON c.oid = i.indclass[0]
    INNER JOIN pg_catalog.pg_amop AS p
        ON p.amopfamily = c.opcfamily AND p.amoplefttype = c.opcintype AND p.amoprighttype = c.opcintype
            AND p.amopstrategy = 3 AND p.amopmethod = c.opcmethod
    INNER JOIN pg_catalog.pg_operator AS o ON o.oid = p.amopopr
    INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = o.oprnamespace
    WHERE i.indrelid = p_table AND i.indisprimary AND i.indnatts = 1;
    IF v_operator IS NULL THEN
        PERFORM mlops.key_refusal(p_table, true);
    END IF;
    -- the row's key, or another value of the key's type (a self reference's column)
    v_value := coalesce(p_value_sql, format('%I.%I', p_alias, v_column));
    IF p_many THEN
        RETURN format('%s %s ANY ((%s)::%s[])', v_value, v_operator, p_keys_sql, v_type);
    END IF;
    RETURN format('%s %s (%s)::%s', v_value, v_operator, p_keys_sql, v_type);
END;
$$;

COMMENT ON FUNCTION mlops.key_match_sql(regclass, text, text, boolean, text) IS
'Internal: SQL condition that row p_alias of the table has the key p_keys_sql (text) or, with p_many, one of the '
'keys p_keys_sql (text[]): "alias.key OPERATOR(schema.=) ANY ((keys)::type[])", with the primary key''s own btree '
'equality operator. With p_value_sql, that SQL value of the key''s type (a self reference''s column) takes the place '
'of the row''s key. Raises 0A000 for a table without a single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.key_match_sql(regclass, text, text, boolean, text) FROM PUBLIC;
