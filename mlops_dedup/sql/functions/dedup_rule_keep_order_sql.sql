-- mlops.dedup_rule_keep_order_sql: a rule's keep_order as an ORDER BY list that is safe to run: the text is parsed
-- strictly as t.<column> [ASC|DESC] [NULLS FIRST|LAST], ... and rebuilt from the column names with %I, so no rule
-- text ever reaches SQL. NULL or blank: the package's default order.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_keep_order_sql(p_target regclass, p_keep_order text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- one item: t . column (plain or double-quoted) [ASC|DESC] [NULLS FIRST|LAST], then a comma or the end
    v_item CONSTANT text := '^(\s*t\s*\.\s*("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)'
        '(?:\s+(ASC|DESC))?(?:\s+NULLS\s+(FIRST|LAST))?\s*(,|$))';
    v_rest text := p_keep_order;
    v_match text[];
    v_column text;
    v_items text[] := ARRAY[]::text[];
BEGIN
    IF nullif(btrim(p_keep_order), '') IS NULL THEN
        RETURN mlops.dedup_default_keep_order(p_target);
    END IF;
    LOOP
        v_match := regexp_match(v_rest, v_item, 'i');
        IF v_match IS NULL THEN
            RAISE EXCEPTION 'dedup rule for %: keep_order does not compile: expected t.<column> [ASC|DESC] '
                '[NULLS FIRST|LAST] at %', p_target, quote_literal(left(v_rest, 60))
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'keep_order is a comma list of the table''s columns, nothing else: it is rebuilt from the '
                    'column names, never run as written.',
                HINT = 'e.g. keep_order => ''t.updated_at DESC NULLS LAST, t.id''.';
        END IF;
        v_column := CASE
            WHEN left(v_match[2], 1) = '"' THEN replace(substr(v_match[2], 2, length(v_match[2]) - 2), '""', '"')
            ELSE lower(v_match[2])
        END;
        IF NOT EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = p_target AND a.attname = v_column AND a.attnum > 0 AND NOT a.attisdropped
        ) THEN
            RAISE EXCEPTION 'dedup rule for %: keep_order does not compile: column t.% does not exist', p_target,
                quote_ident(v_column)
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'keep_order names columns of the rule''s table, e.g. ''t.updated_at DESC NULLS LAST, t.id''.';
        END IF;
        v_items := v_items || format('t.%I %s%s', v_column, upper(coalesce(v_match[3], 'ASC')),
            coalesce(' NULLS ' || upper(v_match[4]), ''));
        v_rest := substr(v_rest, length(v_match[1]) + 1);
        EXIT WHEN v_match[5] = '';
    END LOOP;
    RETURN array_to_string(v_items, ', ');
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_keep_order_sql(regclass, text) IS
'Internal: the ORDER BY list (over alias t) of a rule''s keep_order, rebuilt with quoted column names from the strict '
'form t.<column> [ASC|DESC] [NULLS FIRST|LAST], ...; NULL or blank gives mlops.dedup_default_keep_order(). '
'Anything else, or a column the table does not have: 22023.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_keep_order_sql(regclass, text) FROM PUBLIC;
