-- mlops.text_skeleton: a normalized text with every separator, space, punctuation mark and symbol removed: what is
-- left to compare with a rule's placeholders ('N/A', 'n.a.' and 'na' are one placeholder).

CREATE OR REPLACE FUNCTION mlops.text_skeleton(p_text text)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.regexp_replace(mlops.normalize_text(p_text), mlops.text_separator_class() || '+', '', 'g');
$$;

COMMENT ON FUNCTION mlops.text_skeleton(text) IS
'Immutable: the letters and digits of mlops.normalize_text(p_text) (text), every separator removed '
'(mlops.text_separator_class); NULL for NULL and for a blank text. Used to compare values with a rule''s '
'placeholders.';

REVOKE EXECUTE ON FUNCTION mlops.text_skeleton(text) FROM PUBLIC;
