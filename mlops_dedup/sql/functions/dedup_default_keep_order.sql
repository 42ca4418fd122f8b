-- mlops.dedup_default_keep_order: the survivor order used when a rule sets none: the most complete row first
-- (most non-NULL columns), then the most recently updated (if the table has updated_at), then the lowest key in the
-- key type's order (any key type: uuid, text, …).

CREATE OR REPLACE FUNCTION mlops.dedup_default_keep_order(p_target regclass)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_key text := mlops.key_column(p_target);
    v_complete text;
    v_updated text := '';
BEGIN
    IF v_key IS NULL THEN
        PERFORM mlops.key_refusal(p_target, true);
    END IF;
    SELECT string_agg(format('(t.%I IS NOT NULL)::int', a.attname), ' + ' ORDER BY a.attnum) INTO v_complete
    FROM pg_catalog.pg_attribute AS a
    WHERE a.attrelid = p_target AND a.attnum > 0 AND NOT a.attisdropped
        AND a.attname NOT IN ('deleted_at', 'merged_into');
    IF EXISTS (
        SELECT FROM pg_catalog.pg_attribute AS a
        WHERE a.attrelid = p_target AND a.attname = 'updated_at' AND NOT a.attisdropped
    ) THEN
        v_updated := 't.updated_at DESC NULLS LAST, ';
    END IF;
    RETURN format('(%s) DESC, %st.%I', v_complete, v_updated, v_key);
END;
$$;

COMMENT ON FUNCTION mlops.dedup_default_keep_order(regclass) IS
'Default keep_order of a dedup rule, as an ORDER BY list over alias t: most non-NULL columns first, then latest '
'updated_at (when present), then the lowest key (the key column ascending, in its type''s order). A table without a '
'single-column primary key: 0A000 (mlops.key_refusal).';

REVOKE EXECUTE ON FUNCTION mlops.dedup_default_keep_order(regclass) FROM PUBLIC;
