-- mlops.sql_pairs: one format() template applied to each column with its position, joined; builds the
-- column lists of merge's dynamic SQL ('r.%1$I = v.l%2$s' -> r."job_id" = v.l1 AND ...).

CREATE OR REPLACE FUNCTION mlops.sql_pairs(p_columns text[], p_template text, p_separator text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT string_agg(format(p_template, u.col, u.ord), p_separator ORDER BY u.ord)
        FROM unnest(p_columns) WITH ORDINALITY AS u (col, ord)
    );
END;
$$;

COMMENT ON FUNCTION mlops.sql_pairs(text[], text, text) IS
'Applies a format() template to each column (%1$I: the column, %2$s: its 1-based position) and joins the results '
'with the separator. Internal helper of the merge routines'' dynamic SQL.';

REVOKE EXECUTE ON FUNCTION mlops.sql_pairs(text[], text, text) FROM PUBLIC;
