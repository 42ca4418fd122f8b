-- mlops.index_leads_with: whether a non-partial index of the table leads with exactly these columns (in any order),
-- so a lookup by them (every delete or merge of a referenced row) does not scan the table.

CREATE OR REPLACE FUNCTION mlops.index_leads_with(p_table regclass, p_columns text[])
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_attnums int2[];
BEGIN
    SELECT array_agg(a.attnum ORDER BY a.attnum) INTO v_attnums
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attname = ANY (p_columns) AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_attnums IS NULL OR cardinality(v_attnums) <> cardinality(p_columns) THEN
        RETURN FALSE;
    END IF;
    RETURN EXISTS (
        SELECT
        FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = p_table
            AND i.indpred IS NULL
            AND i.indnkeyatts >= cardinality(v_attnums)
            AND (
                SELECT array_agg(ik.attnum ORDER BY ik.attnum)
                FROM unnest(i.indkey::int2 []) WITH ORDINALITY AS ik (attnum, ord)
                WHERE ik.ord <= cardinality(v_attnums)
            ) = v_attnums
    );
END;
$$;

COMMENT ON FUNCTION mlops.index_leads_with(regclass, text[]) IS
'Internal: true when a non-partial index of p_table has exactly the columns p_columns (names, any order) as its '
'leading key columns; false otherwise, also for a column name the table does not have. Raises nothing.';

REVOKE EXECUTE ON FUNCTION mlops.index_leads_with(regclass, text[]) FROM PUBLIC;
