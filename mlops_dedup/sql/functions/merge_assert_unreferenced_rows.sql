-- mlops.merge_assert_unreferenced_rows: colliding rows of a referencing table that has no single-column primary key
-- can only be archived and deleted, not merged; that is safe only when no row references them. Raises, before the
-- merge records or deletes anything, naming the FK and how many rows reference them.

CREATE OR REPLACE FUNCTION mlops.merge_assert_unreferenced_rows(
    p_table regclass, p_index_name regclass, p_toids oid[], p_ctids tid[]
)
RETURNS void
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_fk record;
    v_count bigint;
BEGIN
    FOR v_fk IN SELECT f.* FROM mlops.referencing_fks(p_table) AS f LOOP
        EXECUTE format(
            'SELECT count(*) FROM %1$s AS r INNER JOIN %2$s AS c ON %3$s'
            ' INNER JOIN unnest($1::oid[], $2::tid[]) AS x (toid, t) ON c.tableoid = x.toid AND c.ctid = x.t',
            v_fk.referencing_table, p_table,
            mlops.fk_match_sql(v_fk.referencing_table, v_fk.fk_name, 'r', 'c.%2$I')
        ) INTO v_count USING p_toids, p_ctids;
        IF v_count > 0 THEN
            RAISE EXCEPTION 'cannot merge through %: % of its rows collide on % and % row(s) of % reference them '
                'through %, but % has no single-column primary key to merge them by', p_table, cardinality(p_ctids),
                p_index_name, v_count, v_fk.referencing_table, v_fk.fk_name, p_table
                USING ERRCODE = 'feature_not_supported',
                DETAIL = 'A colliding row is merged into its twin by its key, so that the rows referencing it '
                    'follow; merging by a composite key is not supported. Nothing was changed.',
                HINT = format('Give %s a single-column key (e.g. ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY, '
                    'make it the primary key and keep the current one UNIQUE), or move the rows of %s that '
                    'reference the colliding rows first.', p_table, v_fk.referencing_table);
        END IF;
    END LOOP;
END;
$$;

COMMENT ON FUNCTION mlops.merge_assert_unreferenced_rows(regclass, regclass, oid[], tid[]) IS
'Internal, part of collision planning: raises 0A000 when rows of another table reference (through an FK) the rows '
'of p_table at (p_toids, p_ctids), which collide on unique index p_index_name and, without a single-column key, '
'could only be archived and deleted; returns when nothing references them.';

REVOKE EXECUTE ON FUNCTION mlops.merge_assert_unreferenced_rows(regclass, regclass, oid[], tid[]) FROM PUBLIC;
