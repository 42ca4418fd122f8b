-- mlops.format_ids: a list of ids (keys of any type) for an error message: all of them when few, else the first
-- few and how many
-- more, so an error over 100,000 ids stays one readable line.

CREATE OR REPLACE FUNCTION mlops.format_ids(p_ids anyarray, p_shown integer DEFAULT 5)
RETURNS text
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF p_ids IS NULL OR cardinality(p_ids) = 0 THEN
        RETURN '(none)';
    END IF;
    IF cardinality(p_ids) <= p_shown THEN
        RETURN array_to_string(p_ids, ', ', 'NULL');
    END IF;
    RETURN format('%s … and %s more', array_to_string(p_ids[1:p_shown], ', ', 'NULL'), cardinality(p_ids) - p_shown);
END;
$$;

COMMENT ON FUNCTION mlops.format_ids(anyarray, integer) IS
'Internal: ids for a message: "1, 2, 3" when at most p_shown (default 5), else "1, 2, 3, 4, 5 … and 99995 more"; '
'NULL elements shown as NULL, an empty or NULL array as (none).';

REVOKE EXECUTE ON FUNCTION mlops.format_ids(anyarray, integer) FROM PUBLIC;
