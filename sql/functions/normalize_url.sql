-- mlops.normalize_url: one spelling per page, so crawls of the same URL compare equal.
-- Immutable and total: NULL gives NULL, and a string that is not a URL comes back trimmed, never an error.

CREATE OR REPLACE FUNCTION mlops.normalize_url(p_url text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_url text := btrim(p_url);
    v_parts text[];
    v_scheme text;
    v_authority text;
    v_path text;
    v_query text;
    v_hostport text[];
    v_userinfo text;
    v_host text;
    v_port text;
BEGIN
    -- scheme://authority/path?query#fragment
    v_parts := regexp_match(v_url, '^([a-z][a-z0-9+.-]*)://([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#.*)?$', 'i');
    IF v_parts IS NOT NULL THEN
        v_scheme := lower(v_parts[1]);
    ELSE
        -- No scheme: accept "host.tld/path" or "//host.tld/path"; anything else is not a URL.
        v_parts := regexp_match(
            v_url, '^(?://)?()([^/?#[:space:]@:]+\.[^/?#[:space:]]+)([^?#]*)(?:\?([^#]*))?(?:#.*)?$'
        );
        IF v_parts IS NULL THEN
            RETURN v_url;
        END IF;
    END IF;
    v_authority := v_parts[2];
    v_path := v_parts[3];
    v_query := v_parts[4];

    -- [userinfo@]host[:port]; an IPv6 host keeps its brackets
    v_hostport := regexp_match(v_authority, '^(?:([^@]*)@)?(\[[^]]*\]|[^:]*)(?::([0-9]*))?$');
    IF v_hostport IS NULL THEN
        v_host := lower(v_authority);
    ELSE
        v_userinfo := v_hostport[1];
        v_host := lower(v_hostport[2]);
        v_port := v_hostport[3];
    END IF;
    v_host := regexp_replace(regexp_replace(v_host, '\.$', ''), '^www\.', '');
    IF v_port = ''
        OR (v_scheme = 'http' AND v_port = '80')
        OR (v_scheme = 'https' AND v_port = '443')
        OR (v_scheme = 'ftp' AND v_port = '21') THEN
        v_port := NULL;
    END IF;

    v_path := regexp_replace(v_path, '/+$', '');

    -- Drop empty and tracking parameters, sort the rest so their order does not matter.
    SELECT string_agg(q.param, '&' ORDER BY q.param COLLATE "C")
    INTO v_query
    FROM unnest(string_to_array(v_query, '&')) AS q (param)
    WHERE q.param <> ''
        AND lower(split_part(q.param, '=', 1)) !~ '^utm_'
        AND lower(split_part(q.param, '=', 1)) NOT IN (
            'fbclid', 'gclid', 'dclid', 'gbraid', 'wbraid', 'msclkid', 'yclid', 'igshid',
            'mc_cid', 'mc_eid', 'ref', '_ga', '_gl', '_hsenc', '_hsmi', 'mkt_tok'
        );

    RETURN coalesce(v_scheme || '://', '')
        || coalesce(v_userinfo || '@', '')
        || v_host
        || coalesce(':' || v_port, '')
        || v_path
        || coalesce('?' || v_query, '');
END;
$$;

COMMENT ON FUNCTION mlops.normalize_url(text) IS
'Canonical form of a URL for duplicate detection: scheme and host lower-cased, www., default port, fragment, '
'trailing slash and tracking parameters (utm_*, fbclid, gclid, mc_cid, mc_eid, ref, ...) dropped, other query '
'parameters sorted. Path case and ordinary parameters are kept. NULL in, NULL out; a non-URL comes back trimmed.';

REVOKE EXECUTE ON FUNCTION mlops.normalize_url(text) FROM PUBLIC;
