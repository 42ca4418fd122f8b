-- mlops.key_refusal: why rows of a table cannot be merged (no primary key, a composite one), or NULL when they can;
-- with p_raise, the error itself (0A000), raised before anything changes.

CREATE OR REPLACE FUNCTION mlops.key_refusal(p_table regclass, p_raise boolean DEFAULT FALSE)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_pk text[] := mlops.primary_key_columns(p_table);
    v_reason text;
BEGIN
    v_reason := CASE
        WHEN v_pk IS NULL THEN 'it has no primary key'
        WHEN cardinality(v_pk) > 1
            THEN format('its primary key (%s) has more than one column', array_to_string(v_pk, ', '))
    END;
    IF v_reason IS NOT NULL AND p_raise THEN
        RAISE EXCEPTION 'cannot merge rows of %: %', p_table, v_reason
            USING ERRCODE = 'feature_not_supported',
            DETAIL = 'Merging names survivors and losers by a single-column primary key (any type: integer, uuid, '
                'text, numeric, a domain, …). Nothing was changed.',
            HINT = CASE WHEN v_pk IS NULL THEN format('Add a primary key to %s.', p_table)
                ELSE format('Add a single-column key (e.g. ALTER TABLE %s ADD COLUMN row_id bigint GENERATED ALWAYS '
                    'AS IDENTITY, then make it the primary key and keep (%s) UNIQUE).', p_table,
                    array_to_string(v_pk, ', ')) END;
    END IF;
    RETURN v_reason;
END;
$$;

COMMENT ON FUNCTION mlops.key_refusal(regclass, boolean) IS
'Internal: why rows of the table cannot be merged (''it has no primary key'', ''its primary key (a, b) has more '
'than one column''), NULL when they can; with p_raise, raises that as 0A000 with a DETAIL and a HINT.';

REVOKE EXECUTE ON FUNCTION mlops.key_refusal(regclass, boolean) FROM PUBLIC;
