-- mlops.foreign_key_catalog: every foreign key of the database, read from pg_constraint by OID,
-- columns paired in key order; the one place that reads FKs, for referencing_fks and fk_policy_report.

CREATE OR REPLACE FUNCTION mlops.foreign_key_catalog()
RETURNS TABLE (
    fk_oid oid,
    fk_name text,
    referencing_table regclass,
    referencing_columns text[],
    referenced_table regclass,
    referenced_columns text[],
    on_delete text,
    on_update text,
    is_deferrable boolean,
    initially_deferred boolean
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- conparentid = 0: an FK on a partitioned table is listed once, not once per partition.
    RETURN QUERY
    SELECT
        c.oid,
        c.conname::text,
        c.conrelid::regclass,
        k.referencing_columns,
        c.confrelid::regclass,
        k.referenced_columns,
        mlops.fk_action_name(c.confdeltype),
        mlops.fk_action_name(c.confupdtype),
        c.condeferrable,
        c.condeferred
    FROM pg_catalog.pg_constraint AS c
    CROSS JOIN LATERAL (
        SELECT
            array_agg(a.attname::text ORDER BY u.ord) AS referencing_columns,
            array_agg(fa.attname::text ORDER BY u.ord) AS referenced_columns
        FROM unnest(c.conkey, c.confkey) WITH ORDINALITY AS u (attnum, fattnum, ord)
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = u.attnum
        INNER JOIN pg_catalog.pg_attribute AS fa ON fa.attrelid = c.confrelid AND fa.attnum = u.fattnum
    ) AS k
    WHERE c.contype = 'f' AND c.conparentid = 0;
END;
$$;

COMMENT ON FUNCTION mlops.foreign_key_catalog() IS
'Every foreign key of the database (partitioned tables once), with referencing and referenced columns as arrays '
'in key order and the ON DELETE / ON UPDATE actions spelled as in SQL. Internal helper of referencing_fks and '
'fk_policy_report.';

REVOKE EXECUTE ON FUNCTION mlops.foreign_key_catalog() FROM PUBLIC;
