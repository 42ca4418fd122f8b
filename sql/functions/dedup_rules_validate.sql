-- mlops.dedup_rules_validate: trigger on mlops.dedup_rules; a rule is compiled against its table when it is
-- written, so a typo is an error then, not during the nightly run.

CREATE OR REPLACE FUNCTION mlops.dedup_rules_validate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_part text;
    v_sql text;
BEGIN
    PERFORM mlops.assert_table(NEW.target);
    IF mlops.integer_key_column(NEW.target) IS NULL THEN
        RAISE EXCEPTION 'dedup rule for %: the table has no single-column integer primary key to merge by', NEW.target
            USING ERRCODE = 'feature_not_supported';
    END IF;
    IF nullif(btrim(NEW.exact_key), '') IS NULL AND nullif(btrim(NEW.similar_text), '') IS NULL THEN
        RAISE EXCEPTION 'dedup rule for % needs exact_key or similar_text', NEW.target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'e.g. exact_key => ''mlops.normalize_url(t.url)'' or similar_text => ''t.content''.';
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

    -- Compile each expression against the table (LIMIT 0 reads no row).
    FOR v_part, v_sql IN
        SELECT x.part, x.sql FROM (VALUES
            ('exact_key', NEW.exact_key, format('SELECT (%s)::text FROM %s AS t LIMIT 0', NEW.exact_key, NEW.target)),
            (
                'similar_text', NEW.similar_text,
                format('SELECT (%s)::text FROM %s AS t LIMIT 0', NEW.similar_text, NEW.target)
            ),
            ('block_key', NEW.block_key, format('SELECT (%s)::text FROM %s AS t LIMIT 0', NEW.block_key, NEW.target)),
            (
                'keep_order', NEW.keep_order,
                format('SELECT FROM %s AS t ORDER BY %s LIMIT 0', NEW.target, NEW.keep_order)
            )
        ) AS x (part, expr, sql)
        WHERE x.expr IS NOT NULL
    LOOP
        BEGIN
            EXECUTE v_sql;
        EXCEPTION WHEN syntax_error_or_access_rule_violation THEN
            RAISE EXCEPTION 'dedup rule for %: % does not compile: %', NEW.target, v_part, SQLERRM
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'Expressions are SQL over the table''s row, alias t, e.g. lower(t.title).';
        END;
    END LOOP;
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rules_validate() IS
'Trigger function of mlops.dedup_rules: checks the target (integer key), thresholds (0 < review <= threshold <= 1), '
'that exact_key or similar_text is set, soft-delete columns, and compiles every expression against the table.';

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
