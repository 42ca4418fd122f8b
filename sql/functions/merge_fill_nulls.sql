-- mlops.merge_fill_nulls: survivor columns that are NULL take the first non-NULL value of their losers, in the
-- order the losers were given; what was filled is recorded in mlops.merges.filled so undo can clear it.

CREATE OR REPLACE FUNCTION mlops.merge_fill_nulls(
    p_target regclass, p_key_column text, p_loser_ids bigint[], p_survivor_ids bigint[], p_merge_ids bigint[]
)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_columns text[];
    v_filled bigint;
BEGIN
    -- Not the key, not generated or identity columns, not the soft-delete markers.
    SELECT array_agg(a.attname::text ORDER BY a.attnum) INTO v_columns
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_target
        AND a.attnum > 0
        AND NOT a.attisdropped
        AND a.attgenerated = ''
        AND a.attidentity = ''
        AND a.attname::text NOT IN (p_key_column, 'deleted_at', 'merged_into');
    IF v_columns IS NULL THEN
        RETURN 0;
    END IF;

    EXECUTE format(
        $q$
        WITH firsts AS (
            SELECT s.%1$I AS survivor_id, m.merge_id, %3$s
            FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])
                WITH ORDINALITY AS m (loser_id, survivor_id, merge_id, ord)
            INNER JOIN %2$s AS l ON l.%1$I = m.loser_id
            INNER JOIN %2$s AS s ON s.%1$I = m.survivor_id
            GROUP BY s.%1$I, m.merge_id
        ),
        filled AS (
            SELECT f.*, (
                SELECT jsonb_object_agg(x.col, x.val) FROM (VALUES %4$s) AS x (col, val) WHERE x.val IS NOT NULL
            ) AS filled
            FROM firsts AS f
        ),
        updated AS (
            UPDATE %2$s AS s SET %5$s
            FROM filled AS f
            WHERE s.%1$I = f.survivor_id AND f.filled IS NOT NULL
            RETURNING f.merge_id, f.filled
        )
        UPDATE mlops.merges AS mg SET filled = u.filled FROM updated AS u WHERE mg.merge_id = u.merge_id
        $q$,
        p_key_column,
        p_target,
        -- per column: the survivor's value, and the first non-NULL loser value in the order given
        mlops.sql_pairs(v_columns,
            's.%1$I AS "old_%2$s",'
            ' (array_agg(l.%1$I ORDER BY m.ord) FILTER (WHERE l.%1$I IS NOT NULL))[1] AS "new_%2$s"',
            ', '),
        mlops.sql_pairs(v_columns,
            '(%1$L, CASE WHEN f."old_%2$s" IS NULL THEN to_jsonb(f."new_%2$s") END)', ', '),
        mlops.sql_pairs(v_columns, '%1$I = coalesce(s.%1$I, f."new_%2$s")', ', ')
    ) USING p_loser_ids, p_survivor_ids, p_merge_ids;
    GET DIAGNOSTICS v_filled = ROW_COUNT;
    RETURN v_filled;
END;
$$;

COMMENT ON FUNCTION mlops.merge_fill_nulls(regclass, text, bigint[], bigint[], bigint[]) IS
'Fills survivor columns that are NULL with the first non-NULL value of the losers (in the order given) and '
'records the filled columns in mlops.merges.filled; returns the number of survivors changed.';

REVOKE EXECUTE ON FUNCTION mlops.merge_fill_nulls(regclass, text, bigint[], bigint[], bigint[]) FROM PUBLIC;
