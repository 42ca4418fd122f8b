-- mlops.merge_mapping_sql: the subquery every merge statement joins: one row per loser with its survivor, its
-- merge id, and the loser's (l1..ln) and survivor's (s1..sn) values of the columns an FK references.
-- Its parameters are $1 loser keys, $2 survivor keys (canonical key texts, text[]) and $3 merge ids (bigint[]), of
-- one length. loser_id and survivor_id are the keys as text; l1.. and s1.. have the referenced columns' types.

CREATE OR REPLACE FUNCTION mlops.merge_mapping_sql(
    p_target regclass, p_key_column text, p_referenced_columns text[]
)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_pairs CONSTANT text := 'unnest($1::text[], $2::text[], $3::bigint[]) AS m (loser_id, survivor_id, merge_id)';
BEGIN
    IF p_referenced_columns = ARRAY[p_key_column] THEN
        -- The FK references the key itself: the keys are the values, no lookup needed.
        RETURN format(
            'SELECT m.loser_id, m.survivor_id, m.merge_id, (m.loser_id)::%1$s AS l1, (m.survivor_id)::%1$s AS s1'
            ' FROM %2$s',
            mlops.key_type_sql(p_target), v_pairs
        );
    END IF;
    -- The FK references another unique key: re-pointed rows take the survivor's values of it.
    RETURN format(
        'SELECT m.loser_id, m.survivor_id, m.merge_id, %s, %s FROM %s'
        ' INNER JOIN %s AS l ON %s INNER JOIN %s AS s ON %s',
        mlops.sql_pairs(p_referenced_columns, 'l.%1$I AS l%2$s', ', '),
        mlops.sql_pairs(p_referenced_columns, 's.%1$I AS s%2$s', ', '),
        v_pairs, p_target, mlops.key_match_sql(p_target, 'l', 'm.loser_id', false),
        p_target, mlops.key_match_sql(p_target, 's', 'm.survivor_id', false)
    );
END;
$$;

COMMENT ON FUNCTION mlops.merge_mapping_sql(regclass, text, text[]) IS
'SQL text of the loser -> survivor mapping subquery (loser_id, survivor_id: key texts; merge_id; l1..ln, s1..sn: '
'the referenced columns'' values) for an FK that references the given columns of the target; parameters $1 loser '
'keys, $2 survivor keys (text[]), $3 merge ids (bigint[]).';

REVOKE EXECUTE ON FUNCTION mlops.merge_mapping_sql(regclass, text, text[]) FROM PUBLIC;
