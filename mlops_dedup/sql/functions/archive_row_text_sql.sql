-- mlops.archive_row_text_sql: the SQL expression that gives, for a row of the table under the given alias, the
-- exact text of every column whose to_jsonb form is not exact (mlops.archive_exact_columns), as the jsonb object
-- mlops.merge_archive.row_text holds; 'NULL::jsonb' when every column is exact. Every statement that archives rows
-- builds row_text with it, so every archived row is restored exactly.

CREATE OR REPLACE FUNCTION mlops.archive_row_text_sql(p_table regclass, p_alias text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_row_text text;
BEGIN
    -- jsonb_build_object takes at most 100 arguments: 50 columns per call, joined with ||.
    SELECT string_agg(g.part, ' || ' ORDER BY g.n) INTO v_row_text
    FROM (
        SELECT (e.ord - 1) / 50 AS n,
            'pg_catalog.jsonb_build_object(' || string_agg(
                format('%L, mlops.archive_text(%I.%I)', e.col, p_alias, e.col), ', ' ORDER BY e.ord
            ) || ')' AS part
        FROM unnest(mlops.archive_exact_columns(p_table)) WITH ORDINALITY AS e (col, ord)
        GROUP BY (e.ord - 1) / 50
    ) AS g;
    RETURN coalesce(v_row_text, 'NULL::jsonb');
END;
$$;

COMMENT ON FUNCTION mlops.archive_row_text_sql(regclass, text) IS
'Internal: SQL text of a jsonb expression {column: exact text} over the columns of p_table (rows under alias '
'p_alias) whose to_jsonb form is not exact; NULL::jsonb when there are none. Used for merge_archive.row_text.';

REVOKE EXECUTE ON FUNCTION mlops.archive_row_text_sql(regclass, text) FROM PUBLIC;
