-- References PostgreSQL does not know about: a column holding another table's keys without a foreign key (a text
-- column of uuids, a Rails polymorphic pair record_type/record_id, a key inside a jsonb document). Declared here by
-- the referencing table's owner, so merges can re-point them and the FK audit stops flagging them; checked by a
-- trigger when written (mlops.declared_references_validate).

CREATE TABLE mlops.declared_references (
    reference_id bigint GENERATED ALWAYS AS IDENTITY,
    referencing_table regclass NOT NULL,
    id_column name NOT NULL,
    target regclass NOT NULL,
    type_column name,
    type_value text,
    json_path text[],
    declared_by name NOT NULL DEFAULT current_user,
    declared_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT declared_references_pkey PRIMARY KEY (reference_id),
    -- one target per column (per type value of a polymorphic pair, per path in a document): a value that could be a
    -- key of two tables could not be re-pointed by either merge, and the reference's name (table, column, type
    -- value, path) names one declaration
    CONSTRAINT declared_references_referencing_table_id_column_key
    UNIQUE NULLS NOT DISTINCT (referencing_table, id_column, type_column, type_value, json_path),
    CONSTRAINT declared_references_type_check CHECK ((type_column IS NULL) = (type_value IS NULL))
);

COMMENT ON TABLE mlops.declared_references IS
'References without a foreign key: a column (or a key inside a json/jsonb column, or the id half of a polymorphic '
'type/id pair) that holds keys of the target table. Merges of the target re-point them like FKs; the FK audit '
'(mlops.fk_policy_report) lists them as risk declared and stops flagging them. Checked by a trigger when written; '
'written only by roles with the rights of the referencing table''s owner (row-level security).';
COMMENT ON COLUMN mlops.declared_references.reference_id IS 'Identity of the declaration.';
COMMENT ON COLUMN mlops.declared_references.referencing_table IS 'The table whose rows hold the references.';
COMMENT ON COLUMN mlops.declared_references.id_column IS
'The column holding the target''s keys (plain reference), or the id half of a polymorphic pair; of the key''s '
'type or a type its values can be read from as text (e.g. text holding uuids), or json/jsonb with json_path.';
COMMENT ON COLUMN mlops.declared_references.target IS
'The table whose keys id_column holds; it has a single-column primary key.';
COMMENT ON COLUMN mlops.declared_references.type_column IS
'Polymorphic pair: the column naming the referenced table or class (e.g. record_type); NULL for a plain reference.';
COMMENT ON COLUMN mlops.declared_references.type_value IS
'Polymorphic pair: the type_column value (compared as text) that means target, e.g. ''User'', ''Blog::Post'' or '
'''app.users''; set exactly when type_column is.';
COMMENT ON COLUMN mlops.declared_references.json_path IS
'For a json/jsonb id_column: the path of the key inside it (id_column #>> json_path); NULL otherwise.';
COMMENT ON COLUMN mlops.declared_references.declared_by IS 'The role that wrote the declaration (stamped).';
COMMENT ON COLUMN mlops.declared_references.declared_at IS 'When the declaration was written (stamped).';

-- Declarations change what merges do to the referencing table's rows: merges run by anyone read them, only the
-- table owner's side writes them.
ALTER TABLE mlops.declared_references ENABLE ROW LEVEL SECURITY;

CREATE POLICY declared_references_readable ON mlops.declared_references FOR SELECT
USING (TRUE);

CREATE POLICY declared_references_declared_by_owner ON mlops.declared_references FOR INSERT
WITH CHECK (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = declared_references.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
);

CREATE POLICY declared_references_changed_by_owner ON mlops.declared_references FOR UPDATE
USING (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = declared_references.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
)
WITH CHECK (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = declared_references.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
);

CREATE POLICY declared_references_deleted_by_owner ON mlops.declared_references FOR DELETE
USING (
    EXISTS (
        SELECT FROM pg_catalog.pg_class AS c
        WHERE
            c.oid = declared_references.referencing_table
            AND pg_catalog.pg_has_role(c.relowner, 'USAGE')
    )
);

COMMENT ON POLICY declared_references_readable ON mlops.declared_references IS
'Every role that may SELECT the table reads every declaration: merges of any target must see all references to it.';
COMMENT ON POLICY declared_references_declared_by_owner ON mlops.declared_references IS
'A reference is declared only by a role with the rights of the referencing table''s owner: it decides what merges '
'do to that table''s rows.';
COMMENT ON POLICY declared_references_changed_by_owner ON mlops.declared_references IS
'A declaration is changed only by a role with the rights of the referencing table''s owner, before and after.';
COMMENT ON POLICY declared_references_deleted_by_owner ON mlops.declared_references IS
'A declaration is deleted only by a role with the rights of the referencing table''s owner.';

-- The audit and the quality report gain columns (fk_policy_report.detail; data_quality.missing_fk_partitions,
-- undeclared_references): their old shapes are dropped here and re-created with the routines and views after the
-- migrations; install grants them again to the roles granted usage before.
-- (A fresh install has none of them yet: checked first, so it prints no "does not exist, skipping".)
DO $$
BEGIN
    IF to_regclass('mlops.data_quality') IS NOT NULL THEN
        DROP VIEW mlops.data_quality;
    END IF;
    IF to_regprocedure('mlops.data_quality_report()') IS NOT NULL THEN
        DROP FUNCTION mlops.data_quality_report();
    END IF;
    IF to_regprocedure('mlops.fk_policy_report(text)') IS NOT NULL THEN
        DROP FUNCTION mlops.fk_policy_report(text);
    END IF;
END;
$$;

-- Roles granted usage before this migration read the declarations (merges re-point them); rule writers write them.
DO $$
DECLARE
    v_grantee record;
BEGIN
    FOR v_grantee IN
        SELECT DISTINCT p.grantee,
            EXISTS (
                SELECT FROM information_schema.column_privileges AS w
                WHERE w.table_schema = 'mlops' AND w.table_name = 'conflict_policies'
                    AND w.column_name = 'action' AND w.privilege_type = 'INSERT' AND w.grantee = p.grantee
            ) AS writer
        FROM information_schema.column_privileges AS p
        WHERE p.table_schema = 'mlops' AND p.table_name = 'merges' AND p.column_name = 'reason'
            AND p.privilege_type = 'INSERT'
            AND p.grantee <> 'PUBLIC'
            AND p.grantee NOT IN (SELECT r.rolname FROM pg_catalog.pg_roles AS r WHERE r.oid = (
                SELECT c.relowner FROM pg_catalog.pg_class AS c WHERE c.oid = 'mlops.merges'::regclass
            ))
        ORDER BY p.grantee
    LOOP
        EXECUTE format('GRANT SELECT ON mlops.declared_references TO %I', v_grantee.grantee);
        IF v_grantee.writer THEN
            EXECUTE format(
                'GRANT INSERT (referencing_table, id_column, target, type_column, type_value, json_path), '
                'UPDATE (referencing_table, id_column, target, type_column, type_value, json_path), DELETE '
                'ON mlops.declared_references TO %I',
                v_grantee.grantee
            );
        END IF;
    END LOOP;
END;
$$;
