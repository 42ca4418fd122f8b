-- mlops.conflict_policy_check: checks a conflict policy against its table as it is now (the policies' trigger when
-- one is written, every merge before it applies one): the table, the action, and for combine each column and its
-- aggregate. Raises a clear error naming the table and the column; returns quietly when the policy is usable.

CREATE OR REPLACE FUNCTION mlops.conflict_policy_check(p_table regclass, p_action text, p_combine jsonb)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_entry record;
    v_column record;
    v_keyed text[];
BEGIN
    PERFORM mlops.assert_table(p_table);
    PERFORM mlops.assert_not_package_relation(p_table);
    IF p_action IS NULL OR p_action NOT IN ('twin', 'combine', 'refuse') THEN
        RAISE EXCEPTION 'conflict policy for %: action must be twin, combine or refuse, not %', p_table,
            coalesce(quote_literal(p_action), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_action <> 'combine' THEN
        IF p_combine IS NOT NULL THEN
            RAISE EXCEPTION 'conflict policy for %: combine is only for action combine (action is %)', p_table, p_action
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Leave combine NULL, or declare action combine.';
        END IF;
        RETURN;
    END IF;

    IF p_combine IS NULL OR jsonb_typeof(p_combine) <> 'object' OR p_combine = '{}'::jsonb THEN
        RAISE EXCEPTION 'conflict policy for %: combine must be a non-empty object {"column": "aggregate"}', p_table
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. combine => ''{"qty": "sum"}''; aggregates: sum, min, max, fill, concat.';
    END IF;
    IF mlops.primary_key_columns(p_table) IS NULL THEN
        RAISE EXCEPTION 'conflict policy for %: combine needs a primary key on the table', p_table
            USING ERRCODE = 'feature_not_supported',
            DETAIL = 'Undo finds the twin whose values were combined by its primary key.',
            HINT = 'Add a primary key, or declare twin or refuse.';
    END IF;
    -- Columns a combine may not change: keys (primary, unique, and what unique indexes read), FK columns.
    SELECT array_agg(DISTINCT a.attname::text) INTO v_keyed
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attnum > 0 AND (
        EXISTS (
            SELECT FROM pg_catalog.pg_index AS i
            WHERE i.indrelid = p_table AND i.indisunique AND a.attnum = ANY (i.indkey::int2 [])
        )
        OR EXISTS (
            SELECT FROM pg_catalog.pg_index AS i
            INNER JOIN pg_catalog.pg_depend AS d
                ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
            WHERE i.indrelid = p_table AND i.indisunique
                AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = p_table
                AND d.refobjsubid = a.attnum
        )
        OR EXISTS (
            SELECT FROM pg_catalog.pg_constraint AS c
            WHERE c.conrelid = p_table AND c.contype = 'f' AND a.attnum = ANY (c.conkey)
        )
    );

    FOR v_entry IN SELECT e.key AS col, e.value AS agg FROM jsonb_each(p_combine) AS e ORDER BY e.key LOOP
        SELECT a.attname, a.attgenerated, a.attidentity, t.typcategory,
            format_type(a.atttypid, a.atttypmod) AS type_name
        INTO v_column
        FROM pg_catalog.pg_attribute AS a
        INNER JOIN pg_catalog.pg_type AS t ON t.oid = a.atttypid
        WHERE a.attrelid = p_table AND a.attname = v_entry.col AND a.attnum > 0 AND NOT a.attisdropped;
        IF v_column.attname IS NULL THEN
            RAISE EXCEPTION 'conflict policy for %: combine names column %, which % does not have', p_table,
                quote_ident(v_entry.col), p_table
                USING ERRCODE = 'undefined_column';
        END IF;
        IF jsonb_typeof(v_entry.agg) IS DISTINCT FROM 'string'
            OR v_entry.agg #>> '{}' NOT IN ('sum', 'min', 'max', 'fill', 'concat') THEN
            RAISE EXCEPTION 'conflict policy for %: column % has aggregate %, not one of sum, min, max, fill, concat',
                p_table, quote_ident(v_entry.col), v_entry.agg
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        IF v_entry.col = ANY (v_keyed) OR v_column.attgenerated <> '' OR v_column.attidentity <> '' THEN
            RAISE EXCEPTION 'conflict policy for %: column % cannot be combined: it is %', p_table,
                quote_ident(v_entry.col),
                CASE WHEN v_column.attgenerated <> '' THEN 'a generated column'
                    WHEN v_column.attidentity <> '' THEN 'an identity column'
                    ELSE 'part of a key, a unique index or a foreign key' END
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'Combining changes the twin''s value; keys and references are what the merge keeps fixed.',
                HINT = 'Combine other columns only.';
        END IF;
        IF (v_entry.agg #>> '{}' = 'sum' AND v_column.typcategory NOT IN ('N', 'T'))
            OR (v_entry.agg #>> '{}' = 'concat' AND v_column.typcategory <> 'S') THEN
            RAISE EXCEPTION 'conflict policy for %: % cannot % column % of type %', p_table, v_entry.agg #>> '{}',
                CASE WHEN v_entry.agg #>> '{}' = 'sum' THEN 'sum' ELSE 'concat' END,
                quote_ident(v_entry.col), v_column.type_name
                USING ERRCODE = 'datatype_mismatch',
                HINT = 'sum takes numeric and interval columns, concat text columns; min, max and fill others.';
        END IF;
        IF v_entry.agg #>> '{}' IN ('min', 'max') THEN
            BEGIN
                EXECUTE format('SELECT %s(x) FROM (SELECT NULL::%s AS x) AS p', v_entry.agg #>> '{}',
                    v_column.type_name);
            EXCEPTION WHEN undefined_function THEN
                RAISE EXCEPTION 'conflict policy for %: % cannot be taken of column % (type % has no % aggregate)',
                    p_table, v_entry.agg #>> '{}', quote_ident(v_entry.col), v_column.type_name, v_entry.agg #>> '{}'
                    USING ERRCODE = 'datatype_mismatch',
                    HINT = 'Use fill for this column.';
            END;
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.conflict_policy_check(regclass, text, jsonb) IS
'Internal: raises when a conflict policy does not fit its table now: not a user table (22004, 42P01, 42809, 22023), '
'an unknown action or combine given without action combine (22023); for combine: not a non-empty object (22023), '
'no primary key (0A000), an unknown column (42703), an unknown aggregate or a key, unique, FK, generated or '
'identity column (22023), sum of a non-numeric, concat of a non-text, min/max of a type without them (42804).';

REVOKE EXECUTE ON FUNCTION mlops.conflict_policy_check(regclass, text, jsonb) FROM PUBLIC;
