-- mlops.audit_undeclared_polymorphic: polymorphic pairs (<x>_type, <x>_id), e.g. Rails' record_type / record_id,
-- whose type values name a table ('User' -> users, 'Blog::Post' -> blog_posts or posts, 'app.users', 'users') and
-- whose ids under that value are keys of it, with no declaration: merges of that table would leave those rows
-- pointing at rows that are gone. Reads a bounded sample, only of columns and tables the caller may read.

CREATE OR REPLACE FUNCTION mlops.audit_undeclared_polymorphic(p_schema oid DEFAULT NULL)
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
    c_rows CONSTANT integer := 100000;  -- rows read for the type values at most
    c_types CONSTANT integer := 100;  -- type values tried per pair at most
    v_pair record;
    v_types text[];
    v_type text;
    v_target record;
    v_match record;
BEGIN
    FOR v_pair IN
        WITH RECURSIVE audited AS (
            -- the user's tables; partitions and inheritance children through their parent (its scan reads their rows)
            SELECT c.oid, c.relnamespace
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
        )
        SELECT a.oid::regclass AS tbl, a.relnamespace, ta.attname::text AS type_col, ia.attname::text AS id_col,
            ARRAY(SELECT t.relid FROM tree AS t WHERE t.root = a.oid) AS tree
        FROM audited AS a
        INNER JOIN pg_catalog.pg_attribute AS ta ON ta.attrelid = a.oid AND ta.attnum > 0 AND NOT ta.attisdropped
        INNER JOIN pg_catalog.pg_type AS tt ON tt.oid = ta.atttypid
        INNER JOIN pg_catalog.pg_attribute AS ia
            ON ia.attrelid = a.oid AND ia.attnum > 0 AND NOT ia.attisdropped
            AND lower(ia.attname) = substring(lower(ta.attname) FROM '^(.+)_type$') || '_id'
        WHERE lower(ta.attname) ~ '^.+_type$'
            AND tt.typcategory IN ('S', 'E')  -- a domain has its base type's category
            AND has_column_privilege(a.oid, ta.attnum, 'SELECT')
            AND has_column_privilege(a.oid, ia.attnum, 'SELECT')
            AND has_schema_privilege(a.relnamespace, 'USAGE')
        ORDER BY a.oid::regclass::text, ta.attname
    LOOP
        EXECUTE format(
            'SELECT array_agg(s.v ORDER BY s.v) FROM (SELECT DISTINCT r.v FROM (SELECT t.%1$I::pg_catalog.text AS v'
            ' FROM %2$s AS t WHERE t.%3$I IS NOT NULL LIMIT %4$s) AS r WHERE r.v IS NOT NULL LIMIT %5$s) AS s',
            v_pair.type_col, v_pair.tbl, v_pair.id_col, c_rows, c_types
        ) INTO v_types;
        CONTINUE WHEN v_types IS NULL;
        FOREACH v_type IN ARRAY v_types LOOP
            -- declared for this type value (to whatever table): covered
            CONTINUE WHEN EXISTS (
                SELECT FROM mlops.declared_references AS d
                WHERE d.referencing_table = ANY (v_pair.tree) AND d.id_column = v_pair.id_col
                    AND d.type_column = v_pair.type_col AND d.type_value = v_type
            );
            FOR v_target IN
                SELECT tc.oid::regclass AS target, ka.attname::text AS key_col
                FROM pg_catalog.pg_class AS tc
                INNER JOIN pg_catalog.pg_namespace AS tn ON tn.oid = tc.relnamespace
                INNER JOIN pg_catalog.pg_attribute AS ka
                    ON ka.attrelid = tc.oid AND ka.attname = mlops.key_column(tc.oid)
                INNER JOIN pg_catalog.pg_attribute AS ia
                    ON ia.attrelid = v_pair.tbl AND ia.attname = v_pair.id_col
                CROSS JOIN LATERAL (
                    SELECT CASE
                        -- 'app.users': that schema's table
                        WHEN v_type ~ '^[^.:]+\.[^.:]+$' THEN
                            CASE WHEN lower(tn.nspname) = lower(split_part(v_type, '.', 1))
                                AND lower(tc.relname) = lower(split_part(v_type, '.', 2)) THEN 0 END
                        -- 'users', 'User', 'Blog::Post': the names they stand for, most likely first
                        ELSE array_position(mlops.audit_table_names(v_type), lower(tc.relname))
                    END AS rank
                ) AS r
                WHERE tc.relkind IN ('r', 'p') AND NOT tc.relispartition
                    AND r.rank IS NOT NULL
                    AND NOT (tn.nspname = 'mlops' AND tc.relname = ANY (mlops.package_table_names()))
                    AND tn.nspname NOT IN ('pg_catalog', 'information_schema', 'mlops_rules')
                    AND mlops.reference_type_fits(ia.atttypid, ka.atttypid)
                    AND (p_schema IS NULL OR p_schema IN (v_pair.relnamespace, tc.relnamespace))
                ORDER BY tc.relnamespace = v_pair.relnamespace DESC, r.rank, tn.nspname, tc.relname
            LOOP
                SELECT m.* INTO v_match
                FROM mlops.audit_key_match(v_pair.tbl, v_pair.id_col, v_target.target, v_pair.type_col, v_type) AS m;
                CONTINUE WHEN v_match.matches IS NOT TRUE;

                fk_name := NULL;
                referencing_table := v_pair.tbl;
                referencing_columns := ARRAY[v_pair.type_col, v_pair.id_col];
                referenced_table := v_target.target;
                referenced_columns := ARRAY[v_target.key_col];
                on_delete := NULL;
                on_update := NULL;
                indexed := mlops.index_leads_with(v_pair.tbl, ARRAY[v_pair.type_col, v_pair.id_col])
                    OR mlops.index_leads_with(v_pair.tbl, ARRAY[v_pair.id_col]);
                risk := 'undeclared_polymorphic';
                detail := format(
                    '%I = %L: %s of %s sampled ids are keys of %s (%s %%), but no declaration says so: merges of %s '
                    'do not re-point these rows. Fix: INSERT INTO mlops.declared_references (referencing_table, '
                    'id_column, target, type_column, type_value) VALUES (%L, %L, %L, %L, %L);',
                    v_pair.type_col, v_type, v_match.matched, v_match.sampled, v_target.target,
                    round(100.0 * v_match.matched / v_match.sampled, 1), v_target.target,
                    v_pair.tbl::text, v_pair.id_col, v_target.target::text, v_pair.type_col, v_type
                );
                RETURN NEXT;
                EXIT;  -- one table per type value: the first whose keys the ids are
            END LOOP;
        END LOOP;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.audit_undeclared_polymorphic(oid) IS
'Internal, rows of mlops.fk_policy_report with risk undeclared_polymorphic: one per polymorphic pair (<x>_type of a '
'string or enum type, <x>_id on the same table; not partitions, inheritance children or package tables), '
'type value and table, where the type value names the table (''app.users'': that schema''s users; ''users'', '
'''User'', ''Blog::Post'': mlops.audit_table_names, the same schema first) and the ids of rows with that type '
'value are at least 90 % its keys (mlops.audit_key_match), with no mlops.declared_references row for that type '
'value. referencing_columns {type column, id column}; fk_name, on_delete, on_update NULL; indexed: an index leads '
'with (type, id) or (id); detail: the type value, matched and sampled ids, the share and the INSERT INTO '
'mlops.declared_references that declares it. p_schema: only rows with either end in that namespace (NULL: all). '
'Columns or tables the caller may not read are skipped; at most 100 type values from the first 100000 rows, and '
'per value and table tried 100000 rows and 1000 distinct ids, are read.';

REVOKE EXECUTE ON FUNCTION mlops.audit_undeclared_polymorphic(oid) FROM PUBLIC;
