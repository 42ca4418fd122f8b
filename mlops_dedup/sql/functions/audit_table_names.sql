-- mlops.audit_table_names: the table names a reference's name points at, most likely first: the word of a column
-- name (customer for customer_id) or a class name of a polymorphic type column (Blog::Post, UserProfile), singular
-- and plural (customer, customers; category, categories; person, people; blog_posts, posts).

CREATE OR REPLACE FUNCTION mlops.audit_table_names(p_name text)
RETURNS text[]
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_words text[];
    v_last text;
    v_prefix text;
    v_forms text[];
    v_names text[] := ARRAY[]::text[];
    v_form text;
BEGIN
    IF p_name IS NULL OR btrim(p_name) = '' THEN
        RETURN ARRAY[]::text[];
    END IF;
    -- Rails class names: namespaces by ::, CamelCase words by _ (UserProfile -> user_profile, HTMLPage -> html_page)
    SELECT array_agg(
        lower(regexp_replace(regexp_replace(w.word, '([A-Z]+)([A-Z][a-z])', '\1_\2', 'g'),
            '([a-z0-9])([A-Z])', '\1_\2', 'g'))
        ORDER BY w.ord
    ) INTO v_words
    FROM unnest(string_to_array(btrim(p_name), '::')) WITH ORDINALITY AS w (word, ord)
    WHERE w.word <> '';
    v_last := v_words[cardinality(v_words)];
    v_prefix := nullif(array_to_string(v_words[1:cardinality(v_words) - 1], '_'), '');
    v_forms := ARRAY[
        v_last,
        v_last || 's',
        v_last || 'es',
        CASE WHEN v_last ~ '[^aeiou]y$' THEN left(v_last, -1) || 'ies' END,
        CASE WHEN v_last ~ '(^|_)person$' THEN left(v_last, -6) || 'people' END,
        CASE WHEN v_last ~ '(^|_)child$' THEN v_last || 'ren' END
    ];
    -- Blog::Post is table blog_posts when its module sets a table_name_prefix, posts when not
    IF v_prefix IS NOT NULL THEN
        FOREACH v_form IN ARRAY v_forms LOOP
            IF v_form IS NOT NULL THEN
                v_names := v_names || (v_prefix || '_' || v_form);
            END IF;
        END LOOP;
    END IF;
    FOREACH v_form IN ARRAY v_forms LOOP
        IF v_form IS NOT NULL AND NOT v_form = ANY (v_names) THEN
            v_names := v_names || v_form;
        END IF;
    END LOOP;
    RETURN v_names;
END;
$$;

COMMENT ON FUNCTION mlops.audit_table_names(text) IS
'Internal, for the FK audit''s guesses: candidate table names (text[], lower case, most likely first) for the word '
'of a reference column (customer -> {customer, customers, customeres}; category -> {…, categories}; person -> {…, '
'people}) or a Rails class name (Blog::Post -> {blog_post, blog_posts, …, post, posts, …}; UserProfile -> '
'{user_profile, user_profiles, …}). Empty for NULL or blank input. Raises nothing.';

REVOKE EXECUTE ON FUNCTION mlops.audit_table_names(text) FROM PUBLIC;
