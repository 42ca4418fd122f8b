-- mlops.sql_column_pairs: like mlops.sql_pairs, for two column lists side by side (an FK's referencing and
-- referenced columns): format(template, left, right) for each pair, joined.

CREATE OR REPLACE FUNCTION mlops.sql_column_pairs(
    p_left text[], p_right text[], p_template text, p_separator text
)
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
        SELECT string_agg(format(p_template, u.l, u.r), p_separator ORDER BY u.ord)
        FROM unnest(p_left, p_right) WITH ORDINALITY AS u (l, r, ord)
    );
END;
$$;

COMMENT ON FUNCTION mlops.sql_column_pairs(text[], text[], text, text) IS
'Applies a format() template to each pair of columns (%1$I left, %2$I right) and joins the results with the '
'separator. Internal helper of the undo and data-quality dynamic SQL.';

REVOKE EXECUTE ON FUNCTION mlops.sql_column_pairs(text[], text[], text, text) FROM PUBLIC;
