-- mlops.comparison_level_labels: the levels of a comparison kind, in words, lowest (0: different) first. The
-- levels themselves are computed by mlops.comparison_levels_sql; these two files change together.

CREATE OR REPLACE FUNCTION mlops.comparison_level_labels(p_kind text)
RETURNS text[]
LANGUAGE sql
IMMUTABLE
STRICT
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE p_kind
        -- edit distance for texts up to 30 characters, trigram similarity for longer ones
        WHEN 'text' THEN ARRAY['different', 'edit distance <= 3 or similarity >= 0.4',
            'edit distance <= 2 or similarity >= 0.6', 'edit distance <= 1 or similarity >= 0.8', 'exact']
        WHEN 'code' THEN ARRAY['different', 'edit distance <= 2', 'edit distance <= 1', 'exact']
        WHEN 'number' THEN ARRAY['different', 'within 10%', 'within 1%', 'exact']
        WHEN 'date' THEN ARRAY['different', 'within a year', 'within 31 days',
            'day and month swapped or one digit off', 'exact']
        WHEN 'exact' THEN ARRAY['different', 'exact']
    END;
$$;

COMMENT ON FUNCTION mlops.comparison_level_labels(text) IS
'Immutable: the labels (text[]) of a comparison kind''s levels, level 0 (different) first, the highest (exact) last: '
'text (5 levels: edit distance up to 30 characters, trigram similarity bands beyond), code (4: edit distance), '
'number (4: relative difference), date (5: swapped day and month or one digit, days apart), exact (2). NULL for an '
'unknown kind.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_level_labels(text) FROM PUBLIC;
