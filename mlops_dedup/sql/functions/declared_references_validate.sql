-- mlops.declared_references_validate: trigger on mlops.declared_references, run as the role writing the declaration:
-- refuses a declaration merges could not follow (missing columns, a type that cannot hold the target's keys, a target
-- without a single-column key, a duplicate of a real FK, a package table) and a writer without the rights of the
-- referencing table's owner. The writer cannot choose declared_by or declared_at.

CREATE OR REPLACE FUNCTION mlops.declared_references_validate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_relkind "char";
    v_owner regrole;
    v_id_type regtype;
    v_type_type regtype;
    v_key_column text;
    v_key_type regtype;
    v_fk text;
BEGIN
    IF NEW.referencing_table IS NULL OR NEW.id_column IS NULL OR NEW.target IS NULL THEN
        RAISE EXCEPTION 'a declared reference needs referencing_table, id_column and target (got %, %, %)',
            coalesce(NEW.referencing_table::text, 'NULL'), coalesce(quote_ident(NEW.id_column), 'NULL'),
            coalesce(NEW.target::text, 'NULL')
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind, c.relowner::regrole INTO v_relkind, v_owner
    FROM pg_catalog.pg_class AS c WHERE c.oid = NEW.referencing_table;
    IF v_relkind IS NULL OR v_relkind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION 'cannot declare a reference from %: it is not a table', NEW.referencing_table
            USING ERRCODE = 'wrong_object_type',
            HINT = 'Declare references of ordinary or partitioned tables (a partitioned table''s covers its '
                'partitions).';
    END IF;
    IF EXISTS (
        SELECT
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
        WHERE c.oid = NEW.referencing_table
            AND (n.nspname = 'mlops_rules' OR (n.nspname = 'mlops' AND c.relname = ANY (mlops.package_table_names())))
    ) THEN
        RAISE EXCEPTION 'cannot declare a reference from %: it is a table of the mlops-dedup package',
            NEW.referencing_table
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = 'The package''s merge log and settings are never re-pointed by merges.',
            HINT = 'Declare references of your own tables.';
    END IF;
    IF NOT pg_has_role(current_user, v_owner, 'USAGE') THEN
        RAISE EXCEPTION 'role % may not declare references of %: it lacks the rights of its owner %',
            current_user, NEW.referencing_table, v_owner
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A declared reference makes every merge of its target re-point the table''s rows.',
            HINT = format('Declare it as %s (or a member of it).', v_owner);
    END IF;

    SELECT a.atttypid::regtype INTO v_id_type
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = NEW.referencing_table AND a.attname = NEW.id_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF v_id_type IS NULL THEN
        RAISE EXCEPTION 'column % of % does not exist', quote_ident(NEW.id_column), NEW.referencing_table
            USING ERRCODE = 'undefined_column',
            HINT = 'id_column names the column that holds the target''s keys (for a polymorphic pair: its id half).';
    END IF;
    IF (NEW.type_column IS NULL) <> (NEW.type_value IS NULL) THEN
        RAISE EXCEPTION 'declared reference %.%: type_column and type_value go together',
            NEW.referencing_table, quote_ident(NEW.id_column)
            USING ERRCODE = 'invalid_parameter_value',
            DETAIL = format('type_column is %s, type_value is %s.', coalesce(quote_ident(NEW.type_column), 'NULL'),
                coalesce(quote_literal(NEW.type_value), 'NULL')),
            HINT = 'A polymorphic pair sets both (e.g. type_column record_type, type_value ''User''); a plain '
                'reference neither.';
    END IF;
    IF NEW.type_column IS NOT NULL THEN
        SELECT a.atttypid::regtype INTO v_type_type
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = NEW.referencing_table AND a.attname = NEW.type_column AND a.attnum > 0
            AND NOT a.attisdropped;
        IF v_type_type IS NULL THEN
            RAISE EXCEPTION 'column % of % does not exist', quote_ident(NEW.type_column), NEW.referencing_table
                USING ERRCODE = 'undefined_column',
                HINT = 'type_column names the column that says which table a row''s id belongs to (e.g. record_type).';
        END IF;
        IF NEW.type_column = NEW.id_column THEN
            RAISE EXCEPTION 'declared reference %.%: type_column must be another column than id_column',
                NEW.referencing_table, quote_ident(NEW.id_column)
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'A polymorphic pair is two columns: the type (e.g. record_type) and the id (record_id).';
        END IF;
    END IF;
    IF v_id_type = 'pg_catalog.json'::regtype THEN
        -- re-pointing a key inside a json text would rewrite the whole document (key order, duplicate keys,
        -- blanks) as jsonb does, and undo could not give it back
        RAISE EXCEPTION 'declared reference %.%: column % is json; only jsonb documents can be re-pointed exactly',
            NEW.referencing_table, quote_ident(NEW.id_column), quote_ident(NEW.id_column)
            USING ERRCODE = 'feature_not_supported',
            HINT = format('ALTER TABLE %s ALTER COLUMN %I TYPE jsonb, then declare it.', NEW.referencing_table,
                NEW.id_column);
    END IF;
    IF v_id_type IN ('pg_catalog.json'::regtype, 'pg_catalog.jsonb'::regtype) THEN
        IF NEW.json_path IS NULL OR cardinality(NEW.json_path) = 0 OR array_position(NEW.json_path, NULL) IS NOT NULL
        THEN
            RAISE EXCEPTION 'declared reference %.%: column % is %, json_path must say where the key is in it',
                NEW.referencing_table, quote_ident(NEW.id_column), quote_ident(NEW.id_column), v_id_type
                USING ERRCODE = 'invalid_parameter_value',
                DETAIL = format('json_path is %s.', coalesce(NEW.json_path::text, 'NULL')),
                HINT = 'Give the path of keys (and array indexes) to the key, e.g. ARRAY[''customer'', ''id''] for '
                    '{"customer": {"id": …}}: the key is read as id_column #>> json_path.';
        END IF;
    ELSIF NEW.json_path IS NOT NULL THEN
        RAISE EXCEPTION 'declared reference %.%: json_path is only for json or jsonb columns, not %',
            NEW.referencing_table, quote_ident(NEW.id_column), v_id_type
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Leave json_path NULL for a column that holds the key itself.';
    END IF;

    PERFORM mlops.assert_table(NEW.target);
    PERFORM mlops.assert_not_package_relation(NEW.target);
    PERFORM mlops.key_refusal(NEW.target, true);
    v_key_column := mlops.key_column(NEW.target);
    SELECT a.atttypid::regtype INTO v_key_type
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = NEW.target AND a.attname = v_key_column;
    IF NEW.json_path IS NULL AND NOT mlops.reference_type_fits(v_id_type, v_key_type) THEN
        RAISE EXCEPTION 'declared reference %.%: a column of type % cannot hold keys of % (%.% is %)',
            NEW.referencing_table, quote_ident(NEW.id_column), v_id_type, NEW.target, NEW.target,
            quote_ident(v_key_column), v_key_type
            USING ERRCODE = 'datatype_mismatch',
            DETAIL = 'The column must be of the key''s type, castable to it (e.g. bigint for integer keys), or a '
                'string type whose text reads as the key (e.g. text holding uuids).',
            HINT = 'Check id_column and target.';
    END IF;

    -- As for a real FK: declaring one needs REFERENCES on the target's key (a merge of the target then writes the
    -- referencing table and runs its triggers, so a role must not hang its table under a table it may not reference).
    IF NOT pg_catalog.has_column_privilege(NEW.target, v_key_column, 'REFERENCES') THEN
        RAISE EXCEPTION 'role % may not declare references to %: it lacks REFERENCES on %.%', current_user,
            NEW.target, NEW.target, quote_ident(v_key_column)
            USING ERRCODE = 'insufficient_privilege',
            DETAIL = 'A foreign key to the table would need the same privilege.',
            HINT = format('GRANT REFERENCES (%I) ON %s TO %I;', v_key_column, NEW.target, current_user);
    END IF;
    -- The target's own key is not a reference to itself.
    IF NEW.referencing_table = NEW.target AND NEW.id_column = v_key_column AND NEW.type_column IS NULL
        AND NEW.json_path IS NULL THEN
        RAISE EXCEPTION 'declared reference %.% -> % is the table''s own key, not a reference',
            NEW.referencing_table, quote_ident(NEW.id_column), NEW.target
            USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Declare the column that holds keys of another row (e.g. parent_code), not the key itself.';
    END IF;

    -- A real FK on the same column to the same table: merges re-point it already.
    IF NEW.type_column IS NULL AND NEW.json_path IS NULL THEN
        SELECT c.conname::text INTO v_fk
        FROM pg_catalog.pg_constraint AS c
        INNER JOIN pg_catalog.pg_attribute AS a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
        WHERE c.contype = 'f' AND c.conrelid = NEW.referencing_table AND c.confrelid = NEW.target
            AND cardinality(c.conkey) = 1 AND a.attname = NEW.id_column
        ORDER BY c.conname
        LIMIT 1;
        IF v_fk IS NOT NULL THEN
            RAISE EXCEPTION 'declared reference %.% -> % duplicates foreign key %',
                NEW.referencing_table, quote_ident(NEW.id_column), NEW.target, quote_ident(v_fk)
                USING ERRCODE = 'duplicate_object',
                DETAIL = 'Merges re-point every foreign key already (mlops.referencing_fks).',
                HINT = 'Declare only references PostgreSQL does not know about; this one needs no declaration.';
        END IF;
    END IF;

    NEW.declared_by := current_user;
    NEW.declared_at := now();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION mlops.declared_references_validate() IS
'Internal: BEFORE INSERT OR UPDATE trigger of mlops.declared_references: refuses a referencing relation that is not '
'a table (42809) or is a package table (22023), a writer without the rights of its owner (42501), an id_column or '
'type_column it does not have (42703), type_column without type_value or the reverse, type_column = id_column, '
'json_path on a column that is not jsonb or missing on one that is (22023), a json (not jsonb) column (0A000), a '
'target that is not a table (42809) or is a package table (22023) or has no single-column primary key (0A000, '
'mlops.key_refusal), an id_column whose type cannot hold the target''s keys (42804, mlops.reference_type_fits), a '
'plain declaration that duplicates a foreign key (42710), a writer without REFERENCES on the target''s key (42501, '
'as an FK would need), the target''s own key declared as a reference to itself (22023), NULL table, column or '
'target (22004); stamps declared_by and declared_at.';

REVOKE EXECUTE ON FUNCTION mlops.declared_references_validate() FROM PUBLIC;

-- CREATE OR REPLACE keeps this file re-appliable; the table exists once its migration has run.
DO $$
BEGIN
    IF to_regclass('mlops.declared_references') IS NOT NULL THEN
        CREATE OR REPLACE TRIGGER declared_references_validate_trg
        BEFORE INSERT OR UPDATE ON mlops.declared_references
        FOR EACH ROW EXECUTE FUNCTION mlops.declared_references_validate();
    END IF;
END;
$$;
