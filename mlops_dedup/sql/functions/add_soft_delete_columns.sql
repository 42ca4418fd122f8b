-- mlops.add_soft_delete_columns: gives a table the two columns a soft-deleting merge marks (deleted_at, merged_into),
-- so merged rows can stay in place. Adds only what is missing; a column of that name with another type is an error.

CREATE OR REPLACE FUNCTION mlops.add_soft_delete_columns(p_table regclass)
RETURNS text[]
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text[];
    v_key_type regtype;
    v_key_typmod integer;
    v_key_type_name text;
    v_column record;
    v_added text[] := ARRAY[]::text[];
    v_integers CONSTANT regtype[] := ARRAY['int2', 'int4', 'int8']::regtype[];
BEGIN
    PERFORM mlops.assert_table(p_table);
    PERFORM mlops.assert_not_package_relation(p_table);
    IF (SELECT c.relispartition FROM pg_catalog.pg_class AS c WHERE c.oid = p_table) THEN
        RAISE EXCEPTION 'cannot add soft-delete columns to %: it is a partition', p_table
            USING ERRCODE = 'wrong_object_type',
            HINT = format('Add them to its partitioned table %s; its partitions follow.', (
                SELECT i.inhparent::regclass FROM pg_catalog.pg_inherits AS i WHERE i.inhrelid = p_table
            ));
    END IF;
    v_key := mlops.primary_key_columns(p_table);
    IF cardinality(v_key) IS DISTINCT FROM 1 THEN
        RAISE EXCEPTION 'cannot add soft-delete columns to %: it has no single-column primary key', p_table
            USING ERRCODE = 'feature_not_supported',
            DETAIL = CASE WHEN v_key IS NULL THEN 'It has no primary key. ' ELSE format(
                'Its primary key has %s columns (%s). ', cardinality(v_key), array_to_string(v_key, ', ')
            ) END || 'merged_into holds the key of the row a merged row went into.';
    END IF;
    SELECT a.atttypid::regtype, a.atttypmod, pg_catalog.format_type(a.atttypid, a.atttypmod)
    INTO v_key_type, v_key_typmod, v_key_type_name
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_table AND a.attname = v_key[1];

    -- A column that is there already must be of a type the merge can write: deleted_at a timestamp (any precision),
    -- merged_into the key's type (same length or unconstrained) or, for an integer key, an integer as wide or wider.
    FOR v_column IN
        SELECT a.attname::text AS name, a.atttypid::regtype AS type, a.atttypmod AS typmod,
            pg_catalog.format_type(a.atttypid, a.atttypmod) AS type_name
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname IN ('deleted_at', 'merged_into') AND a.attnum > 0
            AND NOT a.attisdropped
        ORDER BY a.attname
    LOOP
        IF NOT (CASE v_column.name
            WHEN 'deleted_at' THEN v_column.type IN ('timestamptz'::regtype, 'timestamp'::regtype)
            ELSE (v_column.type = v_key_type AND v_column.typmod IN (-1, v_key_typmod))
                OR coalesce(array_position(v_integers, v_column.type) >= array_position(v_integers, v_key_type), false)
        END) THEN
            RAISE EXCEPTION '%.% exists with type %, not the type soft delete needs', p_table, v_column.name,
                v_column.type_name
                USING ERRCODE = 'datatype_mismatch',
                DETAIL = format(
                    'deleted_at must be a timestamp, merged_into of the key''s type (%s).', v_key_type_name
                ),
                HINT = 'Rename or change that column, or merge with soft delete off (merged rows archived).';
        END IF;
    END LOOP;

    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname = 'deleted_at' AND NOT a.attisdropped
    ) THEN
        -- No default: a metadata-only change, no table rewrite.
        EXECUTE format('ALTER TABLE %s ADD COLUMN deleted_at timestamptz', p_table);
        EXECUTE format(
            'COMMENT ON COLUMN %s.deleted_at IS %L', p_table,
            'When the row was soft-deleted (merged away by mlops-dedup); NULL for live rows.'
        );
        v_added := v_added || 'deleted_at'::text;
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname = 'merged_into' AND NOT a.attisdropped
    ) THEN
        -- A plain value, not an FK: mlops.resolve_id follows it, and a self FK would make every later merge of the
        -- survivor re-point the soft-deleted rows too.
        EXECUTE format('ALTER TABLE %s ADD COLUMN merged_into %s', p_table, v_key_type_name);
        EXECUTE format(
            'COMMENT ON COLUMN %s.merged_into IS %L', p_table,
            'Key of the row this one was merged into, if soft-deleted by a merge (mlops-dedup).'
        );
        v_added := v_added || 'merged_into'::text;
    END IF;
    IF cardinality(v_added) = 0 THEN
        RAISE NOTICE '% has deleted_at and merged_into already; nothing changed', p_table;
    ELSE
        RAISE NOTICE 'added % to %', array_to_string(v_added, ' and '), p_table;
    END IF;
    RETURN v_added;
END;
$$;

COMMENT ON FUNCTION mlops.add_soft_delete_columns(regclass) IS
'Adds deleted_at timestamptz and merged_into (of the primary key''s type) to a table where missing, in the caller''s '
'transaction, without a rewrite, each with a column comment; returns the names added (text[], ''{}'' when both '
'exist). An existing deleted_at may be any timestamp, an existing merged_into the key''s type or a wider integer. '
'Errors: 0A000 without a single-column primary key, 42804 when a column of that name has another type, 22023 for a '
'package table, 42809 for a partition (add them to its partitioned table).';

REVOKE EXECUTE ON FUNCTION mlops.add_soft_delete_columns(regclass) FROM PUBLIC;
