-- mlops.audit_undeclared_references: columns named like a reference (customer_id, customerid) that no FK and no
-- declaration covers, whose values are keys of a table named like them (customer or customers, the same schema
-- first): merges of that table would leave their rows pointing at rows that are gone. Reads a bounded sample of each
-- candidate column (mlops.audit_key_match), only columns and tables the caller may read.

CREATE OR REPLACE FUNCTION mlops.audit_undeclared_references(p_schema oid DEFAULT NULL)
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
DECLARE
    v_candidate record;
    v_match record;
    v_done text[] := ARRAY[]::text[];
    v_fix text;
    v_constraint text;
BEGIN
    FOR v_candidate IN
        WITH RECURSIVE audited AS (
            -- the user's tables; partitions and inheritance children through their parent (its scan reads their rows)
            SELECT c.oid, c.relname, c.relnamespace
            FROM pg_catalog.pg_class AS c
            INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p')
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = c.oid)
                AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'mlops_rules')
                AND n.nspname !~ '^pg_(toast|temp_)'
                AND NOT (n.nspname = 'mlops' AND c.relname = ANY (mlops.package_table_names()))
                AND NOT EXISTS (
                    SELECT FROM pg_catalog.pg_depend AS d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
                )
        ),
        tree (root, relid) AS (
            SELECT a.oid, a.oid FROM audited AS a
            UNION ALL
            SELECT t.root, i.inhrelid
            FROM tree AS t INNER JOIN pg_catalog.pg_inherits AS i ON i.inhparent = t.relid
        ),
        named AS (
            SELECT a.oid AS relid, a.relnamespace, col.attname::text AS col, col.atttypid,
                coalesce(
                    substring(lower(col.attname) FROM '^(.+)_id$'), substring(lower(col.attname) FROM '^(.*[^_])id$')
                ) AS word
            FROM audited AS a
            INNER JOIN pg_catalog.pg_attribute AS col
                ON col.attrelid = a.oid AND col.attnum > 0 AND NOT col.attisdropped
        ),
        uncovered AS (
            SELECT nm.*
            FROM named AS nm
            WHERE nm.word IS NOT NULL
                -- the table's own key (customer.customer_id) names its own rows, whatever other table it matches
                AND nm.col IS DISTINCT FROM mlops.key_column(nm.relid)
                -- an FK of the table, or of one of its partitions or children, covers the column
                AND NOT EXISTS (
                    SELECT
                    FROM tree AS t
                    INNER JOIN pg_catalog.pg_constraint AS k ON k.conrelid = t.relid AND k.contype = 'f'
                    INNER JOIN pg_catalog.pg_attribute AS ka ON ka.attrelid = k.conrelid AND ka.attnum = ANY (k.conkey)
                    WHERE t.root = nm.relid AND ka.attname = nm.col
                )
                -- so does a declaration
                AND NOT EXISTS (
                    SELECT
                    FROM tree AS t
                    INNER JOIN mlops.declared_references AS d ON d.referencing_table = t.relid
                    WHERE t.root = nm.relid AND d.id_column = nm.col
                )
                -- the id half of a polymorphic pair (x_type, x_id) is mlops.audit_undeclared_polymorphic's
                AND NOT EXISTS (
                    SELECT FROM pg_catalog.pg_attribute AS p
                    WHERE p.attrelid = nm.relid AND p.attnum > 0 AND NOT p.attisdropped
                        AND lower(nm.col) ~ '_id$' AND lower(p.attname) = nm.word || '_type'
                )
        )
        SELECT u.relid::regclass AS tbl, u.col, tc.oid::regclass AS target, ka.attname::text AS key_col,
            (SELECT c.relkind FROM pg_catalog.pg_class AS c WHERE c.oid = u.relid) AS relkind,
            (SELECT c.relname::text FROM pg_catalog.pg_class AS c WHERE c.oid = u.relid) AS relname,
            -- an FK can join them: the key's btree family compares the key with the column's type, or the column's
            -- type coerces to the key's implicitly (as ALTER TABLE … ADD FOREIGN KEY checks)
            u.atttypid = ka.atttypid
            OR EXISTS (
                SELECT
                FROM pg_catalog.pg_index AS i
                INNER JOIN pg_catalog.pg_opclass AS oc ON oc.oid = i.indclass[0]
                INNER JOIN pg_catalog.pg_amop AS ao
                    ON ao.amopfamily = oc.opcfamily AND ao.amopstrategy = 3 AND ao.amoplefttype = oc.opcintype
                        AND ao.amoprighttype = u.atttypid
                WHERE i.indrelid = tc.oid AND i.indisprimary
            )
            OR EXISTS (
                SELECT FROM pg_catalog.pg_cast AS pc
                WHERE pc.castsource = u.atttypid AND pc.casttarget = ka.atttypid AND pc.castcontext = 'i'
            ) AS fk_possible
        FROM uncovered AS u
        -- the tables named like the column's word, by rank
        CROSS JOIN LATERAL unnest(mlops.audit_table_names(u.word)) WITH ORDINALITY AS nm (name, rank)
        INNER JOIN pg_catalog.pg_class AS tc
            ON lower(tc.relname) = nm.name AND tc.relkind IN ('r', 'p') AND NOT tc.relispartition
        INNER JOIN pg_catalog.pg_namespace AS tn ON tn.oid = tc.relnamespace
        INNER JOIN pg_catalog.pg_attribute AS ka ON ka.attrelid = tc.oid AND ka.attname = mlops.key_column(tc.oid)
        WHERE NOT (tn.nspname = 'mlops' AND tc.relname = ANY (mlops.package_table_names()))
            AND tn.nspname NOT IN ('pg_catalog', 'information_schema', 'mlops_rules')
            AND mlops.reference_type_fits(u.atttypid, ka.atttypid)
            AND (p_schema IS NULL OR p_schema IN (u.relnamespace, tc.relnamespace))
        ORDER BY u.relid::regclass::text, u.col, tc.relnamespace = u.relnamespace DESC, nm.rank, tn.nspname, tc.relname
    LOOP
        -- the first table named like the column whose keys its values are; the others are not tried
        CONTINUE WHEN format('%s.%I', v_candidate.tbl, v_candidate.col) = ANY (v_done);
        SELECT m.* INTO v_match FROM mlops.audit_key_match(v_candidate.tbl, v_candidate.col, v_candidate.target) AS m;
        CONTINUE WHEN v_match.matches IS NOT TRUE;
        v_done := v_done || format('%s.%I', v_candidate.tbl, v_candidate.col);

        v_constraint := left(v_candidate.relname || '_' || v_candidate.col || '_fkey', 63);
        v_fix := format(
            'INSERT INTO mlops.declared_references (referencing_table, id_column, target) VALUES (%L, %L, %L);',
            v_candidate.tbl::text, v_candidate.col, v_candidate.target::text
        );
        IF v_candidate.fk_possible THEN
            v_fix := format(
                'ALTER TABLE %s ADD CONSTRAINT %I FOREIGN KEY (%I) REFERENCES %s (%I)%s or, to keep it without an '
                'FK, declare it: %s',
                v_candidate.tbl, v_constraint, v_candidate.col, v_candidate.target, v_candidate.key_col,
                -- PostgreSQL 15 adds FKs to a partitioned table validated only
                CASE WHEN v_candidate.relkind = 'r'
                    THEN format(' NOT VALID; ALTER TABLE %s VALIDATE CONSTRAINT %I;', v_candidate.tbl, v_constraint)
                    ELSE ';' END,
                v_fix
            );
        ELSE
            v_fix := format('declare it (its type differs from the key''s, so no FK): %s', v_fix);
        END IF;

        fk_name := NULL;
        referencing_table := v_candidate.tbl;
        referencing_columns := ARRAY[v_candidate.col];
        referenced_table := v_candidate.target;
        referenced_columns := ARRAY[v_candidate.key_col];
        on_delete := NULL;
        on_update := NULL;
        indexed := mlops.index_leads_with(v_candidate.tbl, ARRAY[v_candidate.col]);
        risk := 'undeclared_reference';
        detail := format(
            '%s of %s sampled values are keys of %s (%s %%), but no FK or declaration says so: deletes leave its rows '
            'dangling and merges of %s do not re-point them. Fix: %s',
            v_match.matched, v_match.sampled, v_candidate.target,
            round(100.0 * v_match.matched / v_match.sampled, 1), v_candidate.target, v_fix
        );
        RETURN NEXT;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.audit_undeclared_references(oid) IS
'Internal, rows of mlops.fk_policy_report with risk undeclared_reference: one per column named <word>_id or '
'<word>id (tables not partitions or inheritance children, not the package''s) that no FK of the table or its '
'partitions and no mlops.declared_references row covers, that is not the table''s own single-column primary key '
'and not the id half of a <word>_type pair, whose '
'sampled values are at least 90 % keys of a table named like the word (mlops.audit_table_names: singular or plural; '
'the same schema first, then others; the first such table whose key type the column can hold, '
'mlops.reference_type_fits). fk_name, on_delete, on_update NULL; referenced_columns the target''s key; detail: '
'matched and sampled values, the share, and the fix (ALTER TABLE … ADD CONSTRAINT … FOREIGN KEY … NOT VALID and '
'VALIDATE when the types allow an FK, and the INSERT INTO mlops.declared_references). p_schema: only rows with '
'either end in that namespace (NULL: all). Columns or tables the caller may not read are skipped; at most 100000 '
'rows and 1000 distinct values are read per column and table tried (mlops.audit_key_match).';

REVOKE EXECUTE ON FUNCTION mlops.audit_undeclared_references(oid) FROM PUBLIC;
