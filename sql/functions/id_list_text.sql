-- mlops.id_list_text: ids for a message: all of them when there are few, else the first five and the count, so an
-- error or NOTICE over 100,000 ids stays one line.

CREATE OR REPLACE FUNCTION mlops.id_list_text(p_ids bigint[])
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN p_ids IS NULL OR cardinality(p_ids) = 0 THEN 'none'
        WHEN cardinality(p_ids) <= 5 THEN array_to_string(p_ids, ', ')
        ELSE format('%s … (%s in all)', array_to_string(p_ids[1:5], ', '), cardinality(p_ids))
    END;
$$;

COMMENT ON FUNCTION mlops.id_list_text(bigint[]) IS
'Text for messages: up to five ids comma-separated, more as the first five and "(N in all)"; ''none'' for NULL or '
'empty. Internal helper.';

REVOKE EXECUTE ON FUNCTION mlops.id_list_text(bigint[]) FROM PUBLIC;
