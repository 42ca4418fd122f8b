-- mlops.reference_set_sql: the SET list that points a referencing row at given values of the referenced columns:
-- an FK's columns each take theirs; a declared reference's id column takes the key cast to its type, or, inside a
-- json document, the key at its path (a number stays a number, anything else becomes a string).

CREATE OR REPLACE FUNCTION mlops.reference_set_sql(
    p_referencing regclass, p_name text, p_columns text[], p_value_template text, p_spelling_sql text DEFAULT NULL
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_declared record;
    v_value text;
BEGIN
    SELECT d.* INTO v_declared FROM mlops.declared_reference(p_referencing, p_name) AS d;
    IF v_declared.id_column IS NULL AND p_spelling_sql IS NOT NULL AND cardinality(p_columns) = 1 THEN
        -- undo of a one-column FK: the value as the row spelled it, where the merge logged one
        RETURN format('%1$I = coalesce((%2$s)::%3$s, %4$s)', p_columns[1], p_spelling_sql, (
            SELECT format('%I.%I', n.nspname, t.typname)
            FROM pg_catalog.pg_attribute AS a
            INNER JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
            INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = t.typnamespace
            WHERE a.attrelid = p_referencing AND a.attname = p_columns[1]
        ), format(p_value_template, p_columns[1], 1));
    END IF;
    IF v_declared.id_column IS NULL THEN
        RETURN mlops.sql_pairs(p_columns, '%1$I = ' || p_value_template, ', ');
    END IF;
    v_value := format(p_value_template, v_declared.id_column, 1);
    IF v_declared.json_path IS NULL THEN
        IF p_spelling_sql IS NOT NULL THEN
            -- undo: the text the row held, where it spelled the key otherwise (merge_moves.moved_from)
            v_value := format('coalesce(%s, (%s)::pg_catalog.text)', p_spelling_sql, v_value);
        END IF;
        RETURN format('%I = (%s)::%s', v_declared.id_column, v_value, v_declared.id_type);
    END IF;
    -- Inside a document: the key as a JSON number where one stood and the key's text is that number's own text
    -- ('7', '8.00'; not '1e1' or '007', which numeric would rewrite as another key), else as a string. Undo writes
    -- back the JSON value the merge logged (moved_from), number or string, exactly.
    v_value := mlops.key_text_sql(v_declared.target, v_value);
    v_value := format(
        'CASE WHEN pg_catalog.jsonb_typeof(r.%1$I::pg_catalog.jsonb #> %2$L::pg_catalog.text[]) = ''number'''
        ' AND %3$s ~ ''^-?(0|[1-9][0-9]*)(\.[0-9]+)?$'' THEN CASE WHEN ((%3$s)::pg_catalog.numeric)::pg_catalog.text'
        ' = %3$s THEN pg_catalog.to_jsonb((%3$s)::pg_catalog.numeric) ELSE pg_catalog.to_jsonb(%3$s) END'
        ' ELSE pg_catalog.to_jsonb(%3$s) END',
        v_declared.id_column, v_declared.json_path, v_value
    );
    IF p_spelling_sql IS NOT NULL THEN
        v_value := format('coalesce((%s)::pg_catalog.jsonb, %s)', p_spelling_sql, v_value);
    END IF;
    RETURN format(
        '%1$I = (pg_catalog.jsonb_set(r.%1$I::pg_catalog.jsonb, %2$L::pg_catalog.text[], %3$s))::%4$s',
        v_declared.id_column, v_declared.json_path, v_value, v_declared.id_type
    );
END;
$$;

COMMENT ON FUNCTION mlops.reference_set_sql(regclass, text, text[], text, text) IS
'Internal: SQL SET list for p_referencing (the UPDATE''s alias r) that makes reference p_name (an FK of columns '
'p_columns, or a declared reference: mlops.declared_reference) hold the values p_value_template gives (a format() '
'template: %1$s the column name, %2$s its 1-based position, e.g. ''v.s%2$s''; for declared references the key '
'value); p_spelling_sql, when not NULL, is text a declared reference takes instead where it is not NULL (undo''s '
'merge_moves.moved_from: the text, or for a key inside a document the JSON value).';

REVOKE EXECUTE ON FUNCTION mlops.reference_set_sql(regclass, text, text[], text, text) FROM PUBLIC;
