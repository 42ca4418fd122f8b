-- mlops.dedup_rule_text_warning: warns, when a rule is written, that pg_trgm is blind here to letters the rule's
-- text contains (LC_CTYPE 'C' and Korean, say): detection then scores those texts with the package's own trigrams,
-- which give the same scores but cost more. Looks at the first 1000 rows; raises nothing but WARNINGs (an error
-- evaluating the sample is one too).

CREATE OR REPLACE FUNCTION mlops.dedup_rule_text_warning(p_target regclass, p_evaluator regprocedure)
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_found boolean;
BEGIN
    IF p_evaluator IS NULL OR NOT mlops.pg_trgm_blind() THEN
        RETURN false;
    END IF;
    BEGIN
        EXECUTE format(
            $q$SELECT EXISTS (SELECT FROM (SELECT t.* FROM %s AS t LIMIT 1000) AS t CROSS JOIN LATERAL %s(t.*) AS v
                WHERE v.txt ~ '[^\x01-\x7F]')$q$,
            p_target, p_evaluator::oid::regproc
        ) INTO v_found;
    EXCEPTION WHEN OTHERS THEN
        -- an advice must not refuse a rule the locale of another database would accept: say what failed, go on
        -- (detection runs the expressions again and reports their errors)
        RAISE WARNING 'dedup rule for %: could not sample its text for the locale check: % (%)', p_target, SQLERRM,
            SQLSTATE;
        RETURN false;
    END;
    IF v_found AND NOT EXISTS (SELECT FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_trgm') THEN
        RAISE WARNING 'dedup rule for %: pg_trgm is not installed in this database', p_target
            USING DETAIL = 'Detection compares texts with the package''s own trigrams (mlops.text_similarity): the '
                'scores pg_trgm gives, at a higher cost.',
            HINT = 'CREATE EXTENSION pg_trgm (install does, where it may).';
    ELSIF v_found THEN
        RAISE WARNING 'dedup rule for %: pg_trgm sees no letter outside ASCII in this database (LC_CTYPE %), and the '
            'rule''s text has such letters', p_target,
            (SELECT d.datctype FROM pg_catalog.pg_database AS d WHERE d.datname = current_database())
            USING DETAIL = 'Detection compares those texts with the package''s own trigrams (mlops.text_similarity): '
                'the scores pg_trgm gives in a UTF-8 locale, at a higher cost.',
            HINT = 'A database created with LC_CTYPE ''C.UTF-8'' (or another UTF-8 locale) lets pg_trgm see them.';
    END IF;
    RETURN v_found;
END;
$$;

COMMENT ON FUNCTION mlops.dedup_rule_text_warning(regclass, regprocedure) IS
'Called by the rule check: boolean, true after raising a WARNING when pg_trgm is blind to letters outside ASCII '
'here (mlops.pg_trgm_blind) and the similar_text of one of the first 1000 rows of p_target (through the rule''s '
'evaluator p_evaluator) has such letters. Raises nothing else.';

REVOKE EXECUTE ON FUNCTION mlops.dedup_rule_text_warning(regclass, regprocedure) FROM PUBLIC;
