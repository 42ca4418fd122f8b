-- mlops.fk_match_sql: the join condition that finds the rows of a referencing table that reference given values,
-- written with the FK's own equality operators (pg_constraint.conpfeqop, "referenced = referencing"),
-- schema-qualified: as PostgreSQL itself matches references. Plain "=" under the package's pinned search path
-- would miss the operators of extension types (citext's case-insensitive "=" lives in the extension's schema) and
-- compare as text: rows that reference a loser would be left behind, then cascaded away or set to NULL.

CREATE OR REPLACE FUNCTION mlops.fk_match_sql(
    p_referencing regclass, p_fk_name text, p_alias text, p_referenced_template text
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_sql text;
    v_declared record;
    v_key text;
BEGIN
    -- A declared reference (mlops.declared_references): its id column (or the key inside its json document) holds
    -- the target's key; a polymorphic one only in rows whose type column names the target.
    SELECT d.* INTO v_declared FROM mlops.declared_reference(p_referencing, p_fk_name) AS d;
    IF v_declared.id_column IS NOT NULL THEN
        v_key := format(p_referenced_template, 1, mlops.key_column(v_declared.target));
        RETURN CASE WHEN v_declared.type_column IS NULL THEN ''
                ELSE format('%I.%I::pg_catalog.text = %L AND ', p_alias, v_declared.type_column, v_declared.type_value)
            END
            || CASE
                WHEN v_declared.json_path IS NOT NULL THEN format('%s = %s',
                    mlops.key_spelling_sql(v_declared.target, mlops.key_text_sql(v_declared.target, v_key)),
                    mlops.key_spelling_sql(v_declared.target, format('(%I.%I::pg_catalog.jsonb #>> %L::pg_catalog.text[])',
                        p_alias, v_declared.id_column, v_declared.json_path)))
                -- a text column holding keys: every spelling of the key (upper-case uuids, citext's case)
                WHEN v_declared.id_is_text THEN format('%s = %s',
                    mlops.key_spelling_sql(v_declared.target, mlops.key_text_sql(v_declared.target, v_key)),
                    mlops.key_spelling_sql(v_declared.target, format('%I.%I::pg_catalog.text', p_alias,
                        v_declared.id_column)))
                -- another type (int4 holding int8 keys, uuid holding text keys): compared as the key's type, so a
                -- key the column cannot hold is simply not there
                ELSE format('%s = (%I.%I)::%s', v_key, p_alias, v_declared.id_column,
                    mlops.key_type_sql(v_declared.target))
            END;
    END IF;
    SELECT string_agg(
        format('%s OPERATOR(%I.%s) %I.%I',
            format(p_referenced_template, k.ord, rc.attname), o.nspname, o.oprname, p_alias, fc.attname),
        ' AND ' ORDER BY k.ord)
    INTO v_sql
    FROM pg_catalog.pg_constraint AS c
    CROSS JOIN LATERAL unnest(c.conkey, c.confkey, c.conpfeqop) WITH ORDINALITY AS k (fkey, pkey, op, ord)
    INNER JOIN pg_catalog.pg_attribute AS fc ON fc.attrelid = c.conrelid AND fc.attnum = k.fkey
    INNER JOIN pg_catalog.pg_attribute AS rc ON rc.attrelid = c.confrelid AND rc.attnum = k.pkey
    INNER JOIN LATERAL (
        SELECT n.nspname, p.oprname
        FROM pg_catalog.pg_operator AS p INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = p.oprnamespace
        WHERE p.oid = k.op
    ) AS o ON true
    WHERE c.conrelid = p_referencing AND c.conname = p_fk_name AND c.contype = 'f';
    IF v_sql IS NULL THEN
        RAISE EXCEPTION 'foreign key % of % does not exist', p_fk_name, p_referencing
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN v_sql;
END;
$$;

COMMENT ON FUNCTION mlops.fk_match_sql(regclass, text, text, text) IS
'Internal: SQL text "<referenced value> OPERATOR(schema.op) <alias>.<fk column> AND ..." for FK p_fk_name of '
'p_referencing, one term per FK column with the FK''s own equality operator; p_referenced_template is a format() '
'template for the referenced value (%1$s: the column''s 1-based position, %2$s: the referenced column''s name, '
'e.g. ''v.l%1$s'' or ''s.%2$I''). For a declared reference (p_fk_name a reference_name of '
'mlops.declared_references_of), the same condition on its id column (the key cast to the column''s type), its type '
'column, or the key''s text inside its json document. Raises 42704 when neither exists.';

REVOKE EXECUTE ON FUNCTION mlops.fk_match_sql(regclass, text, text, text) FROM PUBLIC;
