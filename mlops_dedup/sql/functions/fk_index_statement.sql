-- mlops.fk_index_statement: the statement that gives a reference's columns the index every delete or merge of the
-- referenced rows needs (the FK audit's fix, an alert's fix): the table as its regclass prints, columns quoted, in
-- key order.

CREATE OR REPLACE FUNCTION mlops.fk_index_statement(p_table regclass, p_columns text[])
RETURNS text
LANGUAGE sql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT format(
        'CREATE INDEX CONCURRENTLY ON %s (%s);', p_table,
        (SELECT string_agg(quote_ident(c.col), ', ' ORDER BY c.n) FROM unnest(p_columns) WITH ORDINALITY AS c (col, n))
    );
$$;

COMMENT ON FUNCTION mlops.fk_index_statement(regclass, text[]) IS
'Internal: CREATE INDEX CONCURRENTLY ON <table> (<columns>); for a reference''s columns (text), identifiers quoted.';

REVOKE EXECUTE ON FUNCTION mlops.fk_index_statement(regclass, text[]) FROM PUBLIC;
