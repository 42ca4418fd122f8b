-- mlops.dedup_rules_validate: trigger on mlops.dedup_rules, run as the role writing the rule: checks the rule and
-- compiles its expressions into an evaluator owned by that role (rule_owner), so a typo is an error now and the
-- expressions only ever run with the writer's rights. The writer cannot choose rule_owner or evaluator.

CREATE OR REPLACE FUNCTION mlops.dedup_rules_validate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_missing text[];
BEGIN
    PERFORM mlops.assert_table(NEW.target);
    PERFORM mlops.assert_not_package_relation(NEW.target);
    -- any key type of one column (integer, uuid, text, numeric, a domain, …); no primary key or a composite one:
    -- 0A000, with why and what to do
    PERFORM mlops.key_refusal(NEW.target, true);
    IF NEW.comparisons IS NOT NULL THEN
        PERFORM mlops.dedup_rule_check_comparisons(NEW.target, NEW.comparisons, NEW.exact_key, NEW.similar_text);
    ELSIF nullif(btrim(NEW.exact_key), '') IS NULL AND nullif(btrim(NEW.similar_text), '') IS NULL THEN
        RAISE EXCEPTION 'dedup rule for % needs exact_key, similar_text or comparisons', NEW.target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. exact_key => ''mlops.normalize_url(t.url)'', similar_text => ''t.content'' or comparisons => '
                'ARRAY[''t.given_name'', ''t.surname'', ''t.date_of_birth''].';
    END IF;
    IF NOT (NEW.review_threshold > 0 AND NEW.review_threshold <= NEW.threshold AND NEW.threshold <= 1) THEN
        RAISE EXCEPTION
            'dedup rule for %: thresholds must satisfy 0 < review_threshold <= threshold <= 1 (got % and %)',
            NEW.target, NEW.review_threshold, NEW.threshold
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.soft_delete AND NOT mlops.has_soft_delete_columns(NEW.target) THEN
        RAISE EXCEPTION 'dedup rule for %: soft_delete needs deleted_at and merged_into columns', NEW.target
            USING ERRCODE = 'undefined_column';
    END IF;

    -- An update of enabled, thresholds, soft_delete or fill_nulls only keeps the owner and evaluator. Anything else
    -- is compiled afresh, as the role writing now, which becomes the owner: an insert, a changed expression, a rule
    -- without an evaluator, any attempt to set rule_owner or evaluator, and an UPDATE naming an expression column
    -- even with its old value (dedup_rules_recompile_trg, which fires first, has then cleared NEW.evaluator).
    IF TG_OP = 'UPDATE' AND OLD.evaluator IS NOT NULL AND NEW.evaluator IS NOT NULL
        AND NEW.evaluator IS NOT DISTINCT FROM OLD.evaluator AND NEW.rule_owner IS NOT DISTINCT FROM OLD.rule_owner
        AND NEW.target = OLD.target
        AND NEW.exact_key IS NOT DISTINCT FROM OLD.exact_key AND NEW.similar_text IS NOT DISTINCT FROM OLD.similar_text
        AND NEW.block_key IS NOT DISTINCT FROM OLD.block_key AND NEW.keep_order IS NOT DISTINCT FROM OLD.keep_order
        AND NEW.comparisons IS NOT DISTINCT FROM OLD.comparisons
        AND NEW.comparison_types IS NOT DISTINCT FROM OLD.comparison_types
    THEN
        RETURN NEW;
    END IF;

    IF NOT has_table_privilege(NEW.target, 'SELECT') THEN
        RAISE EXCEPTION 'dedup rule for %: role % may not SELECT from it', NEW.target, current_user
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A rule''s expressions run with the rights of the role that writes it.',
            HINT = format('GRANT SELECT ON %s TO %I, or let a role that may read it write the rule.', NEW.target,
                current_user);
    END IF;
    v_missing := mlops.dedup_rule_missing_rights(current_user::regrole, NEW.target);
    IF cardinality(v_missing) > 0 THEN
        RAISE EXCEPTION 'dedup rule for %: role % lacks rights a merge of it uses: %', NEW.target, current_user,
            array_to_string(v_missing, ', ')
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A rule makes whoever runs detection update and delete the table''s rows and re-point the rows '
                'referencing them; its writer must hold those rights itself.',
            HINT = 'GRANT them to the writer, or let a role that holds them write the rule.';
    END IF;
    IF row_security_active(NEW.target) THEN
        RAISE EXCEPTION 'dedup rule for %: row-level security on it applies to role %', NEW.target, current_user
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'The rule''s expressions would see every row, including those the policies hide from you.',
            HINT = 'Write the rule as the table''s owner (without FORCE ROW LEVEL SECURITY) or a role with BYPASSRLS.';
    END IF;
    -- keep_order is a column list, never run as written: parse it, then order by the rebuilt list once (it runs
    -- nothing but the column types' sort operators) so a column without an ordering fails now.
    BEGIN
        EXECUTE format('SELECT FROM %s AS t ORDER BY %s LIMIT 0', NEW.target,
            mlops.dedup_rule_keep_order_sql(NEW.target, NEW.keep_order));
    EXCEPTION WHEN undefined_function THEN
        RAISE EXCEPTION 'dedup rule for %: keep_order does not compile: %', NEW.target, SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Order by columns whose type can be sorted, e.g. ''t.updated_at DESC NULLS LAST, t.id''.';
    END;
    SELECT c.evaluator, c.comparison_types INTO NEW.evaluator, NEW.comparison_types
    FROM mlops.dedup_rule_compile(NEW.target, NEW.exact_key, NEW.similar_text, NEW.block_key, NEW.comparisons) AS c;
    NEW.rule_owner := current_user::regrole;
    PERFORM mlops.dedup_rule_text_warning(NEW.target, NEW.evaluator);
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rules_validate() IS
'BEFORE INSERT OR UPDATE trigger of mlops.dedup_rules, run as the writing role: checks the target (a table of the '
'user''s with a single-column primary key of any type, else 0A000 from mlops.key_refusal), thresholds (0 < review <= '
'threshold <= 1), that exact_key, similar_text or comparisons is set (comparisons: '
'mlops.dedup_rule_check_comparisons), soft-delete columns; unless only enabled, thresholds, soft_delete or '
'fill_nulls change, it checks keep_order (mlops.dedup_rule_keep_order_sql), that the writer holds the rights a merge '
'of the table uses (mlops.dedup_rule_missing_rights) without row-level security (42501), compiles the expressions '
'(mlops.dedup_rule_compile) and sets evaluator, comparison_types and rule_owner = current_user, whatever the writer '
'put there; warns when pg_trgm is blind here to the letters of the rule''s text (mlops.dedup_rule_text_warning).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rules_validate() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.dedup_rules') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER dedup_rules_validate_trg
        BEFORE INSERT OR UPDATE ON mlops.dedup_rules
        FOR EACH ROW EXECUTE FUNCTION mlops.dedup_rules_validate();
    END IF;
END;
$$;
