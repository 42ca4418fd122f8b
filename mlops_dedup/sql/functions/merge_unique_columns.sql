-- mlops.merge_unique_columns: the columns of a table that a unique index or an exclusion constraint involves (key
-- columns, and columns its expressions or predicate read), and whether each is only ever a whole plain unique key
-- on its own (then a value the losers gave up is free for the survivor once they are deleted).

CREATE OR REPLACE FUNCTION mlops.merge_unique_columns(p_table regclass)
RETURNS TABLE (column_name text, single_plain boolean)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    WITH idx AS (
        SELECT
            i.indexrelid,
            i.indisunique AND NOT i.indisexclusion AND i.indnkeyatts = 1 AND i.indexprs IS NULL
            AND i.indpred IS NULL AS plain_single
        FROM pg_catalog.pg_index AS i
        WHERE i.indrelid = p_table AND (i.indisunique OR i.indisexclusion)
    ),
    involved AS (
        SELECT x.indexrelid, x.plain_single, k.attnum
        FROM idx AS x
        INNER JOIN pg_catalog.pg_index AS i ON i.indexrelid = x.indexrelid
        CROSS JOIN LATERAL unnest(i.indkey::int2 []) WITH ORDINALITY AS k (attnum, ord)
        WHERE k.ord <= i.indnkeyatts AND k.attnum > 0
        UNION
        SELECT x.indexrelid, x.plain_single, d.refobjsubid::int2
        FROM idx AS x
        INNER JOIN pg_catalog.pg_depend AS d
            ON d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = x.indexrelid
            AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = p_table AND d.refobjsubid > 0
    )
    SELECT a.attname::text, bool_and(v.plain_single)
    FROM involved AS v
    INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = p_table AND a.attnum = v.attnum
    GROUP BY a.attname, a.attnum
    ORDER BY a.attnum;
END;
$$;

COMMENT ON FUNCTION mlops.merge_unique_columns(regclass) IS
'Internal: (column_name, single_plain) for every column a unique index or exclusion constraint of the table '
'involves; single_plain when every such index is a plain one-column unique index (no expression, no predicate).';

REVOKE EXECUTE ON FUNCTION mlops.merge_unique_columns(regclass) FROM PUBLIC;
