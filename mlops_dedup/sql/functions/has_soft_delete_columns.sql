-- mlops.has_soft_delete_columns: whether a table can hold merged rows in place (deleted_at and merged_into).

CREATE OR REPLACE FUNCTION mlops.has_soft_delete_columns(p_table regclass)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT count(*) = 2
        FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_table AND a.attname IN ('deleted_at', 'merged_into') AND NOT a.attisdropped
    );
END;
$$;

COMMENT ON FUNCTION mlops.has_soft_delete_columns(regclass) IS
'True when the table has both deleted_at and merged_into, the columns a soft-deleting merge marks.';

REVOKE EXECUTE ON FUNCTION mlops.has_soft_delete_columns(regclass) FROM PUBLIC;
