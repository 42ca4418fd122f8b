-- mlops.dedup_rule_evaluator_problems: what is wrong with a rule's evaluator, read from the catalog and the parser's
-- own result (pg_proc.prosqlbody), never from rule text: its shape, then what its body calls and references.
-- No row: the evaluator is a single scalar expression over the row that runs with its owner's rights only.

CREATE OR REPLACE FUNCTION mlops.dedup_rule_evaluator_problems(
    p_evaluator regprocedure,
    p_target regclass,
    p_owner regrole
)
RETURNS TABLE (errcode text, problem text, hint text)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_proc record;
    v_body text;
    v_package_owner oid;
    v_hint_scalar CONSTANT text := 'An expression is one scalar SQL expression over the row, alias t, e.g. '
        'lower(t.email) or mlops.normalize_url(t.url): no subquery, aggregate, window or set-returning function.';
    v_hint_rewrite CONSTANT text := 'Write the rule again so its evaluator is compiled afresh, e.g. UPDATE '
        'mlops.dedup_rules SET exact_key = exact_key WHERE target = ''<table>''::regclass.';
BEGIN
    SELECT p.*, n.nspname, l.lanname, r.reltype AS target_rowtype INTO v_proc
    FROM pg_catalog.pg_proc AS p
    INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
    INNER JOIN pg_catalog.pg_language AS l ON l.oid = p.prolang
    LEFT JOIN pg_catalog.pg_class AS r ON r.oid = p_target
    WHERE p.oid = p_evaluator;
    IF v_proc.oid IS NULL THEN
        RETURN QUERY SELECT '55000', format('its evaluator %s does not exist', p_evaluator::oid), v_hint_rewrite;
        RETURN;
    END IF;

    -- 1. Shape: the function the rule trigger creates, unchanged since.
    RETURN QUERY
    SELECT '55000', x.problem, v_hint_rewrite
    FROM (VALUES
        (v_proc.nspname <> 'mlops_rules', format('its evaluator %s is not in schema mlops_rules', p_evaluator)),
        (
            v_proc.proowner <> p_owner,
            format('its evaluator %s is owned by %s, not by the rule''s owner %s', p_evaluator,
                v_proc.proowner::regrole, p_owner)
        ),
        (NOT v_proc.prosecdef, format('its evaluator %s is not SECURITY DEFINER', p_evaluator)),
        (
            v_proc.lanname <> 'sql' OR v_proc.prosqlbody IS NULL,
            format('its evaluator %s is not a SQL function with a SQL-standard body (RETURN ...)', p_evaluator)
        ),
        (v_proc.provolatile <> 's', format('its evaluator %s is not STABLE', p_evaluator)),
        (v_proc.proconfig IS NOT NULL, format('its evaluator %s sets configuration parameters', p_evaluator)),
        (
            v_proc.prokind <> 'f' OR v_proc.proretset
            OR v_proc.prorettype <> 'mlops.dedup_rule_values'::regtype
            OR v_proc.pronargs <> 1 OR v_proc.proargtypes[0] IS DISTINCT FROM v_proc.target_rowtype,
            format('its evaluator %s does not take a row of %s and return mlops.dedup_rule_values', p_evaluator,
                p_target)
        )
    ) AS x (failed, problem)
    WHERE x.failed;
    IF FOUND THEN
        RETURN;
    END IF;

    -- 2. The body as the parser left it: one query node, a RETURN without range table, no sublink anywhere.
    --    Constants print as bytes there, so rule text cannot forge the ":funcid N" fields read below.
    v_body := v_proc.prosqlbody::text;
    RETURN QUERY
    SELECT '22023', x.problem, v_hint_scalar
    FROM (VALUES
        (
            v_body ~ ':hasSubLinks true' OR strpos(v_body, '{SUBLINK') > 0
            OR (SELECT count(*) FROM regexp_matches(v_body, '\{QUERY ', 'g')) <> 1
            OR v_body !~ ':rtable <> ',
            'contains a subquery'
        ),
        (v_body ~ ':hasAggs true' OR strpos(v_body, '{AGGREF') > 0, 'contains an aggregate'),
        (v_body ~ ':hasWindowFuncs true' OR strpos(v_body, '{WINDOWFUNC') > 0, 'contains a window function'),
        (
            v_body ~ ':(hasTargetSRFs|funcretset|opretset) true',
            'contains a set-returning function'
        ),
        (v_body !~ ':isReturn true', 'is not a single RETURN expression')
    ) AS x (failed, problem)
    WHERE x.failed;
    IF FOUND THEN
        RETURN;
    END IF;

    -- 3. Every function it calls, directly or as an operator's implementation. Built-in functions are pinned and
    --    have no pg_depend rows, so they are read from the tree: funcid/opfuncid, and opno/opnos (operators).
    v_package_owner := (SELECT n.nspowner FROM pg_catalog.pg_namespace AS n WHERE n.nspname = 'mlops');
    RETURN QUERY
    WITH called AS (
        SELECT m[1]::oid AS fn FROM regexp_matches(v_body, ':(?:funcid|opfuncid) (\d+)', 'g') AS m
        UNION
        SELECT o.oprcode::oid
        FROM regexp_matches(v_body, ':opno (\d+)', 'g') AS m
        INNER JOIN pg_catalog.pg_operator AS o ON o.oid = m[1]::oid
        UNION
        SELECT o.oprcode::oid
        FROM regexp_matches(v_body, ':opnos \(o ([0-9 ]+)\)', 'g') AS m
        CROSS JOIN LATERAL string_to_table(m[1], ' ') AS s (opno)
        INNER JOIN pg_catalog.pg_operator AS o ON o.oid = s.opno::oid
    ),
    functions AS (
        SELECT p.oid::regprocedure AS fn, p.proname, p.provolatile, p.prokind, p.proowner, n.nspname,
            n.oid = pg_my_temp_schema() OR pg_is_other_temp_schema(n.oid) AS is_temp
        FROM called AS c
        INNER JOIN pg_catalog.pg_proc AS p ON p.oid = c.fn
        INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace
        WHERE c.fn <> 0
    )
    SELECT y.errcode, y.problem, y.hint
    FROM (
        SELECT 1 AS ord, f.fn::text AS fn, '22023' AS errcode,
            format('calls %s, a function in a temporary schema', f.fn) AS problem,
            'Temporary functions are refused: create the function in a schema of yours and qualify it.' AS hint
        FROM functions AS f WHERE f.is_temp
        UNION ALL
        SELECT 1, f.fn::text, '22023', format('calls %s, the evaluator of a rule', f.fn),
            'Rules do not call each other''s evaluators: write the expression itself.'
        FROM functions AS f WHERE f.nspname = 'mlops_rules'
        UNION ALL
        SELECT 2, f.fn::text, '22023', format('calls volatile function %s', f.fn),
            'Expressions may call only IMMUTABLE or STABLE functions: they run once per row, in any order.'
        FROM functions AS f WHERE f.provolatile = 'v'
        UNION ALL
        SELECT 3, f.fn::text, '22023', format('calls %s, an aggregate or window function', f.fn), v_hint_scalar
        FROM functions AS f WHERE f.prokind <> 'f'
        UNION ALL
        SELECT 4, f.fn::text, '22023', format('calls %s, which reads whole relations', f.fn), v_hint_scalar
        FROM functions AS f
        WHERE f.nspname = 'pg_catalog' AND f.proname ~ '^(table|schema|database|query|cursor)_to_xml'
        UNION ALL
        -- Calling a function runs its owner's code with the caller's rights: the owner must have them already.
        SELECT 5, f.fn::text, '42501',
            format('calls %s, owned by %s, who does not have the rights of %s', f.fn, f.proowner::regrole, p_owner),
            'An expression may call only functions of its writer, of a superuser or of the package''s owner: '
            'the rule runs them with its writer''s rights.'
        FROM functions AS f
        WHERE NOT pg_has_role(f.proowner, p_owner, 'USAGE') AND f.proowner <> v_package_owner
        UNION ALL
        SELECT 6, f.fn::text, '42501', format('calls %s, which %s may not execute', f.fn, p_owner),
            format('GRANT EXECUTE ON FUNCTION %s TO %s, or call another function.', f.fn, p_owner)
        FROM functions AS f
        WHERE NOT has_function_privilege(p_owner, f.fn, 'EXECUTE')
    ) AS y
    ORDER BY y.ord, y.fn;
    IF FOUND THEN
        RETURN;
    END IF;

    -- 4. What else it depends on (non-pinned objects): nothing temporary, no relation but the target (a regclass
    --    constant counts), no domain whose checks would run code of a role without the owner's rights.
    RETURN QUERY
    WITH refs AS (
        SELECT DISTINCT d.refclassid, d.refobjid, (pg_identify_object(d.refclassid, d.refobjid, 0)).*
        FROM pg_catalog.pg_depend AS d
        WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p_evaluator AND d.deptype = 'n'
    ),
    relations AS (
        SELECT r.identity, c.oid
        FROM refs AS r
        INNER JOIN pg_catalog.pg_class AS c
            ON (r.refclassid = 'pg_catalog.pg_class'::regclass AND c.oid = r.refobjid)
            OR (
                r.refclassid = 'pg_catalog.pg_type'::regclass
                AND c.oid = (SELECT t.typrelid FROM pg_catalog.pg_type AS t WHERE t.oid = r.refobjid)
            )
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND c.oid <> p_target
    )
    SELECT y.errcode, y.problem, y.hint
    FROM (
        SELECT 1 AS ord, r.identity, '22023' AS errcode,
            format('refers to %s %s in a temporary schema', r.type, r.identity) AS problem,
            'Temporary objects are refused: they belong to one session.' AS hint
        FROM refs AS r WHERE r.schema ~ '^pg_(toast_)?temp'
        UNION ALL
        SELECT DISTINCT 2, x.identity, '22023', format('refers to relation %s, not the rule''s table', x.identity),
            v_hint_scalar
        FROM relations AS x
        UNION ALL
        SELECT 3, r.identity, '42501',
            format('uses domain %s, owned by %s, who does not have the rights of %s', r.identity,
                t.typowner::regrole, p_owner),
            'Its checks would run with the rule writer''s rights: use a domain of the writer or a superuser.'
        FROM refs AS r
        INNER JOIN pg_catalog.pg_type AS t ON r.refclassid = 'pg_catalog.pg_type'::regclass AND t.oid = r.refobjid
        WHERE t.typtype = 'd' AND NOT pg_has_role(t.typowner, p_owner, 'USAGE') AND t.typowner <> v_package_owner
    ) AS y
    ORDER BY y.ord, y.identity;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_evaluator_problems(regprocedure, regclass, regrole) IS
'Internal: what disqualifies a rule evaluator, as (errcode, problem, hint) rows, none when it is fine. Read from '
'pg_proc, its parsed body (prosqlbody) and pg_depend: 55000 when it is not the SQL-standard STABLE SECURITY DEFINER '
'function of schema mlops_rules, owned by p_owner, taking a row of p_target and returning mlops.dedup_rule_values; '
'22023 for a subquery, aggregate, window or set-returning function, a volatile or temporary function, another '
'rule''s evaluator, a function reading whole relations, a temporary object, a relation other than p_target; 42501 '
'for a function or domain whose owner lacks p_owner''s rights, or a function p_owner may not execute. Used when a '
'rule is written and before each run.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_evaluator_problems(regprocedure, regclass, regrole) FROM PUBLIC;
