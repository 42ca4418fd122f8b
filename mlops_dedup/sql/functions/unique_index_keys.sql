-- mlops.unique_index_keys: the unique indexes (and constraints) of a table as a merge's collision planning needs
-- them: per key column its expression, the equality operator of its operator class and its collation, the
-- predicate of a partial index, and every column the index reads (generated columns: also the columns they are
-- computed from).

CREATE OR REPLACE FUNCTION mlops.unique_index_keys(p_table regclass)
RETURNS TABLE (
    indexrelid oid,
    index_name regclass,
    indnkeyatts smallint,
    predicate text,
    nulls_not_distinct boolean,
    key_exprs text[],
    key_operators text[],
    key_collations text[],
    involved int2[]
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    SELECT
        i.indexrelid,
        i.indexrelid::regclass AS index_name,
        i.indnkeyatts,
        pg_catalog.pg_get_expr(i.indpred, i.indrelid) AS predicate,
        i.indnullsnotdistinct AS nulls_not_distinct,
        -- per key column: its expression (a column name or an expression over the row), the equality operator
        -- of its operator class and its collation: rows collide as the index compares them
        ARRAY(
            SELECT '(' || pg_catalog.pg_get_indexdef(i.indexrelid, k.ord::int, true) || ')'
            FROM generate_series(1, i.indnkeyatts) AS k (ord) ORDER BY k.ord
        ) AS key_exprs,
        ARRAY(
            SELECT format('OPERATOR(%I.%s)', n.nspname, o.oprname)
            FROM unnest(i.indclass::oid []) WITH ORDINALITY AS k (opclass, ord)
            INNER JOIN pg_catalog.pg_opclass AS oc ON oc.oid = k.opclass
            INNER JOIN pg_catalog.pg_amop AS am
                ON am.amopfamily = oc.opcfamily AND am.amoplefttype = oc.opcintype
                AND am.amoprighttype = oc.opcintype AND am.amopstrategy = 3
            INNER JOIN pg_catalog.pg_operator AS o ON o.oid = am.amopopr
            INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = o.oprnamespace
            WHERE k.ord <= i.indnkeyatts
            ORDER BY k.ord
        ) AS key_operators,
        ARRAY(
            SELECT CASE WHEN k.coll = 0 THEN '' ELSE format(' COLLATE %I.%I', n.nspname, c.collname) END
            FROM unnest(i.indcollation::oid []) WITH ORDINALITY AS k (coll, ord)
            LEFT JOIN pg_catalog.pg_collation AS c ON c.oid = k.coll
            LEFT JOIN pg_catalog.pg_namespace AS n ON n.oid = c.collnamespace
            WHERE k.ord <= i.indnkeyatts
            ORDER BY k.ord
        ) AS key_collations,
        -- the columns the index reads (key; expressions and predicate: pg_depend), and those generated columns
        -- among them are computed from
        ARRAY(
            WITH direct AS (
                SELECT k.attnum
                FROM unnest(i.indkey::int2 []) WITH ORDINALITY AS k (attnum, ord)
                WHERE k.ord <= i.indnkeyatts AND k.attnum > 0
                UNION
                SELECT d.refobjsubid::int2
                FROM pg_catalog.pg_depend AS d
                WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = i.indexrelid
                    AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = i.indrelid
                    AND d.refobjsubid > 0
            )
            SELECT direct.attnum FROM direct
            UNION
            SELECT g.refobjsubid::int2
            FROM direct
            INNER JOIN pg_catalog.pg_attrdef AS ad ON ad.adrelid = i.indrelid AND ad.adnum = direct.attnum
            INNER JOIN pg_catalog.pg_depend AS g
                ON g.classid = 'pg_catalog.pg_attrdef'::regclass AND g.objid = ad.oid
                AND g.refclassid = 'pg_catalog.pg_class'::regclass AND g.refobjid = i.indrelid
                AND g.refobjsubid > 0
        ) AS involved
    FROM pg_catalog.pg_index AS i
    WHERE i.indrelid = p_table AND i.indisunique
    ORDER BY i.indexrelid;
END;
$$;

COMMENT ON FUNCTION mlops.unique_index_keys(regclass) IS
'Internal: one row per unique index of the table (constraint-backed and deferrable ones included), in OID order: '
'(indexrelid, index_name, indnkeyatts, predicate text or NULL, nulls_not_distinct, key_exprs: per key column '
'pg_get_indexdef''s text in parentheses, key_operators: OPERATOR(schema.=) of its operator class, key_collations: '
'empty or " COLLATE schema.name", involved: attnums the index reads, with the columns its generated columns read).';

REVOKE EXECUTE ON FUNCTION mlops.unique_index_keys(regclass) FROM PUBLIC;
