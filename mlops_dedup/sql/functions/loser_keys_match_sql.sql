-- mlops.loser_keys_match_sql: the condition "this merge took one of these keys", comparing the log's key texts as
-- values of the table's key type with its own equality: for key types whose equal values print differently (citext
-- 'A' / 'a', numeric 1.5 / 1.50, timestamptz offsets), where the text lookup (loser_keys @> ARRAY[key]) can miss.

CREATE OR REPLACE FUNCTION mlops.loser_keys_match_sql(p_table regclass, p_merge_alias text, p_keys_sql text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- the log's keys as a one-column relation named like the key column, so mlops.key_match_sql compares them
    RETURN format(
        'EXISTS (SELECT FROM (SELECT (u.k)::%s AS %I FROM unnest(%I.loser_keys) AS u (k)) AS mlops_loser WHERE %s)',
        mlops.key_type_sql(p_table), mlops.key_column(p_table), p_merge_alias,
        mlops.key_match_sql(p_table, 'mlops_loser', p_keys_sql)
    );
END;
$$;

COMMENT ON FUNCTION mlops.loser_keys_match_sql(regclass, text, text) IS
'Internal: SQL condition that the mlops.merges row p_merge_alias has among its loser_keys one of the keys '
'p_keys_sql (text[]), compared as values of the table''s key type with the primary key''s equality operator (no '
'index: for the key types mlops.key_text_is_canonical says false of). Raises 0A000 for a table without a '
'single-column primary key.';

REVOKE EXECUTE ON FUNCTION mlops.loser_keys_match_sql(regclass, text, text) FROM PUBLIC;
