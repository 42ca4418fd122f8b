-- mlops.audit_missing_partition_fks: partitions and inheritance children that lack a foreign key their siblings (or
-- their inheritance parent) carry, e.g. Pagila's payment_p2022_07 without the staff FK of p2022_01..06: merges and
-- deletes of the referenced rows re-point and check only the tables that carry it, and strand the other's rows.
-- Catalog only.

CREATE OR REPLACE FUNCTION mlops.audit_missing_partition_fks(p_schema oid DEFAULT NULL)
RETURNS TABLE (
    fk_name text,
    referencing_table regclass,
    referencing_columns text[],
    referenced_table regclass,
    referenced_columns text[],
    on_delete text,
    on_update text,
    indexed boolean,
    risk text,
    detail text
)
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN QUERY
    WITH children AS (
        -- pg_inherits also links partitioned indexes: tables only
        SELECT i.inhrelid AS child, i.inhparent AS parent, c.relkind, c.relname, c.relnamespace
        FROM pg_catalog.pg_inherits AS i
        INNER JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
        WHERE c.relkind IN ('r', 'p')
    ),
    fks AS (
        -- every FK by its columns' names; not the clones PostgreSQL adds on a partitioned referencing table for
        -- each partition of the referenced one (same conrelid as their parent constraint)
        SELECT k.oid, k.conname::text AS conname, k.conrelid, k.confrelid, k.confdeltype, k.confupdtype,
            (SELECT array_agg(a.attname::text ORDER BY u.ord)
                FROM unnest(k.conkey) WITH ORDINALITY AS u (attnum, ord)
                INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = k.conrelid AND a.attnum = u.attnum
            ) AS cols,
            (SELECT array_agg(a.attname::text ORDER BY u.ord)
                FROM unnest(k.confkey) WITH ORDINALITY AS u (attnum, ord)
                INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = k.confrelid AND a.attnum = u.attnum
            ) AS refcols
        FROM pg_catalog.pg_constraint AS k
        WHERE k.contype = 'f'
            AND NOT EXISTS (
                SELECT FROM pg_catalog.pg_constraint AS pk WHERE pk.oid = k.conparentid AND pk.conrelid = k.conrelid
            )
    ),
    carried AS (
        -- what a child's parent (inheritance: FKs are not inherited) or one of its siblings carries
        SELECT ch.child, ch.parent, ch.relkind, ch.relname, ch.relnamespace, f.*
        FROM children AS ch
        INNER JOIN fks AS f
            ON f.conrelid = ch.parent
            OR f.conrelid IN (SELECT s.child FROM children AS s WHERE s.parent = ch.parent AND s.child <> ch.child)
    ),
    missing AS (
        SELECT
            m.child, m.parent, m.relkind, m.relname, m.cols, m.confrelid, m.refcols,
            count(DISTINCT m.conrelid) AS carriers,
            bool_or(m.conrelid = m.parent) AS parent_carries,
            (array_agg(m.oid ORDER BY m.conrelid = m.parent DESC, m.conrelid::regclass::text, m.conname))[1] AS example
        FROM carried AS m
        WHERE NOT EXISTS (
            SELECT FROM fks AS own
            WHERE own.conrelid = m.child AND own.cols = m.cols AND own.confrelid = m.confrelid
                AND own.refcols = m.refcols
        )
            AND (p_schema IS NULL OR p_schema = m.relnamespace OR p_schema = (
                SELECT r.relnamespace FROM pg_catalog.pg_class AS r WHERE r.oid = m.confrelid
            ))
        GROUP BY m.child, m.parent, m.relkind, m.relname, m.cols, m.confrelid, m.refcols
    )
    SELECT
        NULL::text,
        m.child::regclass,
        m.cols,
        m.confrelid::regclass,
        m.refcols,
        mlops.fk_action_name(k.confdeltype),
        mlops.fk_action_name(k.confupdtype),
        mlops.index_leads_with(m.child, m.cols),
        'missing_on_partition',
        format(
            '%s %s a foreign key (%s) -> %s (%s), %s does not%s: merges and deletes of %s rows re-point and check only '
            'the tables that carry it and strand this one''s rows. Fix: %s',
            CASE WHEN m.parent_carries THEN format('its inheritance parent %s', m.parent::regclass)
                ELSE format('%s of its siblings under %s', m.carriers, m.parent::regclass) END,
            CASE WHEN m.parent_carries OR m.carriers = 1 THEN 'carries' ELSE 'carry' END,
            array_to_string(m.cols, ', '), m.confrelid::regclass,
            CASE WHEN m.parent_carries THEN quote_ident(k.conname)
                ELSE format('e.g. %I on %s', k.conname, k.conrelid::regclass) END,
            m.child::regclass,
            CASE WHEN m.parent_carries THEN ' (foreign keys are not inherited)' ELSE '' END,
            m.confrelid::regclass,
            format(
                'ALTER TABLE %s ADD CONSTRAINT %I %s%s',
                m.child::regclass, left(m.relname || '_' || array_to_string(m.cols, '_') || '_fkey', 63),
                regexp_replace(pg_catalog.pg_get_constraintdef(k.oid), ' NOT VALID$', ''),
                -- PostgreSQL 15 adds FKs to a partitioned table validated only
                CASE WHEN m.relkind = 'r'
                    THEN format(' NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %I;', m.child::regclass,
                        left(m.relname || '_' || array_to_string(m.cols, '_') || '_fkey', 63))
                    ELSE ';' END
            )
        )
    FROM missing AS m
    INNER JOIN pg_catalog.pg_constraint AS k ON k.oid = m.example
    ORDER BY m.child::regclass::text, m.cols, m.confrelid::regclass::text;
END;
$$;

COMMENT ON FUNCTION mlops.audit_missing_partition_fks(oid) IS
'Internal, rows of mlops.fk_policy_report with risk missing_on_partition: one per partition or inheritance child '
'and foreign key (same columns by name, same referenced table and columns) that a sibling under the same parent, or '
'its inheritance parent, carries and it does not. fk_name NULL; on_delete / on_update those of the carried FK; '
'indexed as for an FK; detail names who carries it and gives the ALTER TABLE … ADD CONSTRAINT … (NOT VALID, then '
'VALIDATE, on a leaf table) that adds it. p_schema: only rows with either end in that namespace (NULL: all). '
'Reads the catalog only; raises nothing of its own.';

REVOKE EXECUTE ON FUNCTION mlops.audit_missing_partition_fks(oid) FROM PUBLIC;
