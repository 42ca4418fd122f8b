-- mlops.dedup_rule_compile: compiles a rule's expressions, as the role writing the rule, into its evaluator: one
-- SQL-standard STABLE SECURITY DEFINER function in schema mlops_rules, owned by that role, so the expressions run
-- with the writer's rights and never the caller's. Refuses anything but single scalar expressions over the row.
-- A rule's comparisons come out as text in one spelling whatever the session's settings (mlops.comparison_value_sql),
-- with each expression's type beside them (read without running the expression).

CREATE OR REPLACE FUNCTION mlops.dedup_rule_compile(
    p_target regclass,
    p_exact_key text,
    p_similar_text text,
    p_block_key text,
    p_comparisons text[],
    OUT evaluator regprocedure,
    OUT comparison_types regtype[]
)
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_parts text[] := ARRAY['exact_key', 'similar_text', 'block_key'];
    v_exprs text[] := ARRAY[nullif(btrim(p_exact_key), ''), nullif(btrim(p_similar_text), ''),
        nullif(btrim(p_block_key), '')];
    v_count integer;
    v_comparisons text[];
    v_type regtype;
    v_columns bigint;
    v_cmp text;
    v_owner CONSTANT regrole := current_user::regrole;
    v_rowtype text;
    v_base text;
    v_name text;
    v_n integer := 0;
    v_problem record;
    v_what text;
    v_state text;
    v_message text;
BEGIN
    SELECT c.reltype::regtype::text INTO v_rowtype FROM pg_catalog.pg_class AS c WHERE c.oid = p_target;
    -- Nothing in the string EXECUTEd below comes from the rule but the three expressions, and none of them may
    -- contain a ';' character: outside the expressions the string is ours (quoted identifiers, fixed keywords, no
    -- ';' outside quotes). So whatever the expressions' quoting, comments or dollar quotes do, the string holds no
    -- statement separator and EXECUTE runs exactly one statement: this CREATE FUNCTION, whose header is fixed
    -- before the first expression. What the parser made of the expressions is then checked on its result.
    FOR v_i IN 1..coalesce(cardinality(p_comparisons), 0) LOOP
        v_parts := v_parts || format('comparisons[%s]', v_i);
        v_exprs := v_exprs || nullif(btrim(p_comparisons[v_i]), '');
    END LOOP;
    v_count := cardinality(v_parts);
    FOR v_i IN 1..v_count LOOP
        IF strpos(v_exprs[v_i], ';') > 0 THEN
            RAISE EXCEPTION 'dedup rule for %: % contains ";"', p_target, v_parts[v_i]
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = 'A rule''s expressions are single SQL expressions; the character ";" is refused anywhere '
                    'in them, string constants and comments included.',
                HINT = 'Write one scalar expression over the row, alias t, e.g. lower(t.email); for a literal '
                    'semicolon use chr(59).';
        END IF;
    END LOOP;

    IF NOT (has_schema_privilege(v_owner, 'mlops_rules', 'CREATE')
        AND has_schema_privilege(v_owner, 'mlops_rules', 'USAGE')) THEN
        RAISE EXCEPTION 'dedup rule for %: role % may not create the rule''s evaluator', p_target, v_owner
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A rule is compiled, as the role writing it, into a function in schema mlops_rules owned by '
                'that role: it needs USAGE and CREATE on that schema.',
            HINT = 'The package owner grants them: SELECT mlops.grant_usage(''<role>'', p_rule_writer => true).';
    END IF;

    -- Each expression alone first, so an error names its part; then all of them together: the evaluator. A
    -- comparison's type is read once it compiled alone, and its value is written in that type's one spelling.
    v_base := format('e%s_%s', p_target::oid, pg_current_xact_id());
    IF p_comparisons IS NOT NULL THEN
        comparison_types := ARRAY[]::regtype[];
        v_comparisons := ARRAY[]::text[];
    END IF;
    FOR v_i IN 1..v_count + 1 LOOP
        CONTINUE WHEN v_i <= v_count AND v_exprs[v_i] IS NULL;
        v_what := CASE WHEN v_i <= v_count THEN v_parts[v_i] ELSE 'the rule''s expressions together' END;
        v_cmp := CASE
            WHEN v_i > v_count AND v_comparisons IS NOT NULL THEN format('ARRAY[%s]::text[]',
                array_to_string(v_comparisons, E',\n'))
            WHEN v_i > 3 AND v_i <= v_count THEN format(E'ARRAY[(%s\n)::text]', v_exprs[v_i])
            ELSE 'NULL::text[]'
        END;
        LOOP
            v_n := v_n + 1;
            v_name := format('%s_%s', v_base, v_n);
            -- a name no function and no relation (the type probe's view) holds
            EXIT WHEN NOT EXISTS (
                SELECT FROM pg_catalog.pg_proc AS p
                WHERE p.pronamespace = 'mlops_rules'::regnamespace AND p.proname = v_name
            ) AND NOT EXISTS (
                SELECT FROM pg_catalog.pg_class AS c
                WHERE c.relnamespace = 'mlops_rules'::regnamespace AND c.relname = v_name || '_type'
            );
        END LOOP;
        BEGIN
            EXECUTE format(
                -- a line break after each expression: a trailing "-- comment" in one ends there
                E'CREATE FUNCTION mlops_rules.%I(t %s) RETURNS mlops.dedup_rule_values\n'
                || E'LANGUAGE sql STABLE SECURITY DEFINER\n'
                || E'RETURN ROW(\n(%s\n)::text,\n(%s\n)::text,\n(%s\n)::text,\n%s\n)::mlops.dedup_rule_values',
                v_name, v_rowtype,
                coalesce(CASE WHEN v_i IN (1, v_count + 1) THEN v_exprs[1] END, 'NULL'),
                coalesce(CASE WHEN v_i IN (2, v_count + 1) THEN v_exprs[2] END, 'NULL'),
                coalesce(CASE WHEN v_i IN (3, v_count + 1) THEN v_exprs[3] END, 'NULL'),
                v_cmp
            );
            IF v_i > 3 AND v_i <= v_count THEN
                -- the expression's type, read off a view of it: a view is parsed, never planned or run, so not even
                -- a constant part of the expression is evaluated (a query's plan would fold it)
                EXECUTE format(E'CREATE VIEW mlops_rules.%I AS SELECT (%s\n) AS v FROM %s AS t', v_name || '_type',
                    v_exprs[v_i], p_target);
                SELECT min(a.atttypid)::regtype, count(*) INTO v_type, v_columns
                FROM pg_catalog.pg_attribute AS a
                WHERE a.attrelid = format('mlops_rules.%I', v_name || '_type')::regclass AND a.attnum > 0;
                EXECUTE format('DROP VIEW mlops_rules.%I', v_name || '_type');
                comparison_types := comparison_types || v_type;
                v_comparisons := v_comparisons || mlops.comparison_value_sql(format(E'(%s\n)', v_exprs[v_i]), v_type);
            END IF;
        EXCEPTION WHEN syntax_error_or_access_rule_violation OR data_exception THEN
            GET STACKED DIAGNOSTICS v_state = RETURNED_SQLSTATE, v_message = MESSAGE_TEXT;
            IF v_state = '42P01' AND v_message ~ 'FROM-clause entry for table "t"' THEN
                -- t.<field> that the row type lacks reads as a table reference: name the column instead
                v_message := coalesce((
                    SELECT format('column t.%s does not exist', x.c[1])
                    FROM regexp_matches(coalesce(v_exprs[v_i], array_to_string(v_exprs, ' ')),
                        '\mt\s*\.\s*("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*)', 'g') WITH ORDINALITY AS x (c, n)
                    WHERE NOT EXISTS (
                        SELECT FROM pg_catalog.pg_attribute AS a
                        WHERE a.attrelid = p_target AND a.attnum > 0 AND NOT a.attisdropped
                            AND a.attname = CASE WHEN left(x.c[1], 1) = '"'
                                THEN replace(substr(x.c[1], 2, length(x.c[1]) - 2), '""', '"')
                                ELSE lower(x.c[1]) END
                    )
                    ORDER BY x.n LIMIT 1
                ), v_message);
            END IF;
            RAISE EXCEPTION 'dedup rule for %: % does not compile: %', p_target, v_what, v_message
                USING ERRCODE = 'invalid_parameter_value',
                HINT = CASE WHEN v_state = '42883' THEN
                    'Names resolve with search_path = pg_catalog, pg_temp, and pg_temp is never searched for '
                    'functions: qualify your own functions with their schema, e.g. myschema.f(t.col).'
                ELSE
                    'An expression is one scalar SQL expression over the row, alias t, e.g. lower(t.title).'
                END;
        END;
        SELECT p.oid::regprocedure INTO evaluator
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = 'mlops_rules'::regnamespace AND p.proname = v_name;

        SELECT x.* INTO v_problem FROM mlops.dedup_rule_evaluator_problems(evaluator, p_target, v_owner) AS x
        LIMIT 1;
        IF v_i <= v_count OR v_problem.problem IS NOT NULL THEN
            EXECUTE format('DROP FUNCTION %s', evaluator);
        END IF;
        IF v_problem.problem IS NOT NULL THEN
            RAISE EXCEPTION 'dedup rule for %: % %', p_target, v_what, v_problem.problem
                USING ERRCODE = v_problem.errcode, HINT = v_problem.hint;
        END IF;
        -- "t.a), (t.b" compiles into two values: a comparison is one
        IF v_i > 3 AND v_i <= v_count AND v_columns <> 1 THEN
            RAISE EXCEPTION 'dedup rule for %: % is not one expression', p_target, v_what
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'One scalar SQL expression over the row, alias t, per comparison.';
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_compile(regclass, text, text, text, text[]) IS
'Internal, called by the rule trigger as the role writing the rule: creates the rule''s evaluator '
'mlops_rules.e<table oid>_<xid>_<n>(t <table row>) RETURNS mlops.dedup_rule_values (exact key, text, block key as '
'text, the comparisons'' values as text[] in one spelling: mlops.comparison_value_sql), LANGUAGE sql STABLE SECURITY '
'DEFINER, owned by that role; returns it and each comparison''s type (regtype[], NULL without comparisons). Errors: '
'an expression containing ";", not compiling, or refused by mlops.dedup_rule_evaluator_problems 22023 (naming the '
'part); a function or domain of a role without the writer''s rights, or no CREATE on schema mlops_rules 42501. '
'Nothing is left behind on error.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_compile(regclass, text, text, text, text[]) FROM PUBLIC;
