-- mlops.comparison_levels_sql: SQL that computes a pair's comparison levels, smallint[] with one level per
-- comparison (0 = different, higher = closer, NULL = no evidence: a value missing on either side), from the two
-- rows' comparison values (text[], as the evaluator wrote and detection normalized them). One piece of SQL for
-- candidate pairs, random pairs, review pairs and explanations. Levels per kind: mlops.comparison_level_labels.
-- The arrays are read once, the values once, each measure (edit distance, similarity, days apart) computed once per
-- comparison, in subqueries the planner keeps (OFFSET 0); the levels are read off them.

CREATE OR REPLACE FUNCTION mlops.comparison_levels_sql(p_kinds text[], p_left_sql text, p_right_sql text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_values text[] := ARRAY[]::text[];
    v_measures text[] := ARRAY['x.*']::text[];
    v_levels text[] := ARRAY[]::text[];
    v_a text;
    v_b text;
    v_short text;
    v_level text;
    -- texts up to this many characters are compared by edit distance, longer ones by trigram similarity
    v_short_text CONSTANT integer := 30;
BEGIN
    FOR v_i IN 1..coalesce(cardinality(p_kinds), 0) LOOP
        v_a := format('a%s', v_i);
        v_b := format('b%s', v_i);
        v_values := v_values || format('y.l[%1$s] AS a%1$s, y.r[%1$s] AS b%1$s', v_i);
        v_short := format('char_length(%1$s) <= %3$s AND char_length(%2$s) <= %3$s', v_a, v_b, v_short_text);
        CASE p_kinds[v_i]
            -- names, words, addresses: edit distance when short (a typo moves a short text's trigrams a lot),
            -- trigram similarity when long
            WHEN 'text' THEN
                v_measures := v_measures || format(
                    'CASE WHEN %1$s = %2$s THEN NULL WHEN %3$s THEN %4$s END AS d%6$s,'
                    ' CASE WHEN %1$s = %2$s OR %3$s THEN NULL ELSE %5$s END AS s%6$s',
                    v_a, v_b, v_short, mlops.edit_distance_sql(v_a, v_b, 3), mlops.text_similarity_sql(v_a, v_b),
                    v_i);
                v_level := format(
                    'CASE WHEN %1$s = %2$s THEN 4 WHEN d%3$s <= 1 OR s%3$s >= 0.8 THEN 3'
                    ' WHEN d%3$s <= 2 OR s%3$s >= 0.6 THEN 2 WHEN d%3$s <= 3 OR s%3$s >= 0.4 THEN 1 ELSE 0 END',
                    v_a, v_b, v_i);
            -- codes and numbers written as digits: typos are edits
            WHEN 'code' THEN
                v_measures := v_measures || format('CASE WHEN %s <> %s THEN %s END AS d%s', v_a, v_b,
                    mlops.edit_distance_sql(v_a, v_b, 2), v_i);
                v_level := format('CASE WHEN %1$s = %2$s THEN 3 WHEN d%3$s <= 1 THEN 2 WHEN d%3$s <= 2 THEN 1'
                    ' ELSE 0 END', v_a, v_b, v_i);
            -- quantities: relative difference
            WHEN 'number' THEN
                v_measures := v_measures || format(
                    'abs((%1$s)::numeric - (%2$s)::numeric)'
                    ' / nullif(greatest(abs((%1$s)::numeric), abs((%2$s)::numeric)), 0) AS r%3$s',
                    v_a, v_b, v_i);
                v_level := format('CASE WHEN (%1$s)::numeric = (%2$s)::numeric THEN 3 WHEN r%3$s <= 0.01 THEN 2'
                    ' WHEN r%3$s <= 0.1 THEN 1 ELSE 0 END', v_a, v_b, v_i);
            -- dates (YYYY-MM-DD...): day and month swapped or one digit off, then days apart (Julian days and
            -- infinity, outside years 1 to 9999: equal or one digit off only)
            WHEN 'date' THEN
                v_measures := v_measures || format(
                    'CASE WHEN %1$s <> %2$s THEN %3$s END AS d%4$s,'
                    ' CASE WHEN %1$s <> %2$s AND %1$s ~ ''^\d{4}-\d\d-\d\d'' AND %2$s ~ ''^\d{4}-\d\d-\d\d'''
                    ' THEN abs(left(%1$s, 10)::date - left(%2$s, 10)::date) END AS r%4$s',
                    v_a, v_b, mlops.edit_distance_sql(format('left(%s, 10)', v_a), format('left(%s, 10)', v_b), 1),
                    v_i);
                v_level := format(
                    'CASE WHEN %1$s = %2$s THEN 4'
                    ' WHEN left(%1$s, 4) = left(%2$s, 4) AND substr(%1$s, 6, 2) = substr(%2$s, 9, 2)'
                    ' AND substr(%1$s, 9, 2) = substr(%2$s, 6, 2) THEN 3'
                    ' WHEN d%3$s <= 1 THEN 3 WHEN r%3$s <= 31 THEN 2 WHEN r%3$s <= 366 THEN 1 ELSE 0 END',
                    v_a, v_b, v_i);
            -- not compared here (a pass that leaves this comparison out)
            WHEN 'none' THEN
                v_level := 'NULL';
            ELSE
                v_level := format('CASE WHEN %1$s = %2$s THEN 1 ELSE 0 END', v_a, v_b);
        END CASE;
        -- a value missing on either side is no evidence
        v_levels := v_levels || format('CASE WHEN %s IS NULL OR %s IS NULL THEN NULL ELSE %s END', v_a, v_b, v_level);
    END LOOP;
    -- (|| '{}': the arrays detoasted once per pair; a long text makes a row's array compressed, and every
    -- subscript of a compressed array decompresses all of it)
    RETURN format(
        '(SELECT ARRAY[%s]::smallint[] FROM (SELECT %s FROM (SELECT %s FROM (SELECT (%s) || %L::text[] AS l,'
        ' (%s) || %L::text[] AS r OFFSET 0) AS y OFFSET 0) AS x OFFSET 0) AS w)',
        array_to_string(v_levels, ', '), array_to_string(v_measures, ', '), array_to_string(v_values, ', '),
        p_left_sql, '{}', p_right_sql, '{}');
END;
$$;

COMMENT ON FUNCTION mlops.comparison_levels_sql(text[], text, text) IS
'Stable: SQL text of a scalar subquery (smallint[]) giving each comparison''s level for a pair: p_left_sql and '
'p_right_sql are SQL for the two rows'' comparison values (text[]); p_kinds (text[]) the kind of each comparison '
'(text, code, number, date, exact: mlops.comparison_kinds; none: left out, NULL). 0 = different, higher = closer '
'(labels: mlops.comparison_level_labels), NULL = a value missing on either side (no evidence). Texts up to 30 '
'characters by edit distance (mlops.edit_distance_sql), longer ones by trigram similarity '
'(mlops.text_similarity_sql). The arguments are pasted as they are: pass SQL the package built.';

REVOKE EXECUTE ON FUNCTION mlops.comparison_levels_sql(text[], text, text) FROM PUBLIC;
