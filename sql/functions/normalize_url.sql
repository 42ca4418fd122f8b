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
    v_at integer;
    v_rest text;
    v_scheme text;
    v_authority text;
    v_path text;
    v_query text;
    v_hostport text[];
    v_userinfo text;
    v_host text;
    v_port text;
    v_param text;
    v_name text;
    v_params text[];
    v_i integer;
    v_fragment text;
    v_segment text;
    v_segments text[];
    v_tracking CONSTANT text[] := ARRAY[
        'fbclid', 'gclid', 'dclid', 'gbraid', 'wbraid', 'msclkid', 'yclid', 'igshid',
        'mc_cid', 'mc_eid', 'ref', '_ga', '_gl', '_hsenc', '_hsmi', 'mkt_tok'
    ];
BEGIN
    -- scheme://authority/path?query#fragment, cut with string functions (a regular expression for the whole URL
    -- costs about twice the rest of this function)
    v_at := strpos(v_url, '://');
    IF v_at > 1 AND left(v_url, v_at - 1) ~ '^[A-Za-z][A-Za-z0-9+.-]*$' THEN
        v_scheme := lower(left(v_url, v_at - 1));
        v_rest := split_part(substr(v_url, v_at + 3), '#', 1);
        IF strpos(v_url, '#') > 0 THEN
            v_fragment := substr(v_url, strpos(v_url, '#') + 1);
        END IF;
        v_at := strpos(v_rest, '?');
        IF v_at > 0 THEN
            v_query := substr(v_rest, v_at + 1);
            v_rest := left(v_rest, v_at - 1);
        END IF;
        v_authority := split_part(v_rest, '/', 1);
        v_path := substr(v_rest, length(v_authority) + 1);
    ELSE
        -- No scheme: accept "host.tld/path" or "//host.tld/path"; anything else is not a URL.
        v_parts := regexp_match(
            v_url, '^(?://)?([^/?#[:space:]@:]+\.[^/?#[:space:]]+)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$'
        );
        IF v_parts IS NULL THEN
            RETURN v_url;
        END IF;
        v_authority := v_parts[1];
        v_path := v_parts[2];
        v_query := v_parts[3];
        v_fragment := v_parts[4];
    END IF;

    -- [userinfo@]host[:port]; an IPv6 host keeps its brackets. Plain string functions where they do: this runs
    -- once per row of a table.
    IF strpos(v_authority, '@') = 0 AND strpos(v_authority, ':') = 0 THEN
        v_host := lower(v_authority);
    ELSE
        v_hostport := regexp_match(v_authority, '^(?:([^@]*)@)?(\[[^]]*\]|[^:]*)(?::([0-9]*))?$');
        IF v_hostport IS NULL THEN
            v_host := lower(v_authority);
        ELSE
            v_userinfo := v_hostport[1];
            v_host := lower(v_hostport[2]);
            v_port := v_hostport[3];
        END IF;
    END IF;
    v_host := rtrim(v_host, '.');
    IF left(v_host, 4) = 'www.' THEN
        v_host := substr(v_host, 5);
    END IF;
    IF v_port = ''
        OR (v_scheme = 'http' AND v_port = '80')
        OR (v_scheme = 'https' AND v_port = '443')
        OR (v_scheme = 'ftp' AND v_port = '21') THEN
        v_port := NULL;
    END IF;

    -- Percent-encoding (RFC 3986 6.2.2.1/6.2.2.2): hex digits upper case, unreserved characters decoded
    -- (%7E is ~, %41 is A); only when there is a % at all.
    IF strpos(v_url, '%') > 0 THEN
        v_path := mlops.normalize_url_percent(v_path);
        v_query := mlops.normalize_url_percent(v_query);
        v_fragment := mlops.normalize_url_percent(v_fragment);
    END IF;
    -- Dot segments (RFC 3986 5.2.4): /a/./b/../c is /a/c.
    IF strpos(v_path, '/.') > 0 THEN
        v_segments := ARRAY[]::text[];
        FOREACH v_segment IN ARRAY string_to_array(substr(v_path, 2), '/') LOOP
            IF v_segment = '..' THEN
                v_segments := v_segments[1:cardinality(v_segments) - 1];
            ELSIF v_segment <> '.' THEN
                v_segments := v_segments || v_segment;
            END IF;
        END LOOP;
        v_path := '/' || array_to_string(v_segments, '/');
    END IF;
    v_path := rtrim(v_path, '/');

    -- Drop empty and tracking parameters, sort the rest (byte order) so their order does not matter; an insertion
    -- sort in PL/pgSQL, since a query string has a handful of parameters and a SQL sort would cost a query per URL,
    -- but a SQL sort past 32 of them (the insertion sort is quadratic: 16k parameters took 22 s).
    IF v_query IS NOT NULL THEN
        v_parts := string_to_array(v_query, '&');
        IF cardinality(v_parts) > 32 THEN
            SELECT array_agg(u.p ORDER BY u.p COLLATE "C") INTO v_params
            FROM unnest(v_parts) AS u (p)
            WHERE u.p <> '' AND left(lower(split_part(u.p, '=', 1)), 4) <> 'utm_'
                AND NOT lower(split_part(u.p, '=', 1)) = ANY (v_tracking);
            v_parts := ARRAY[]::text[];
        END IF;
        FOREACH v_param IN ARRAY v_parts LOOP
            v_name := lower(split_part(v_param, '=', 1));
            CONTINUE WHEN v_param = '' OR left(v_name, 4) = 'utm_' OR v_name = ANY (v_tracking);
            v_i := coalesce(cardinality(v_params), 0);
            v_params := v_params || v_param;
            WHILE v_i > 0 AND v_params[v_i] COLLATE "C" > v_param COLLATE "C" LOOP
                v_params[v_i + 1] := v_params[v_i];
                v_i := v_i - 1;
            END LOOP;
            v_params[v_i + 1] := v_param;
        END LOOP;
        v_query := array_to_string(v_params, '&');
        IF v_query = '' THEN
            v_query := NULL;
        END IF;
    END IF;

    RETURN coalesce(v_scheme || '://', '')
        || coalesce(v_userinfo || '@', '')
        || v_host
        || coalesce(':' || v_port, '')
        || v_path
        || coalesce('?' || v_query, '')
        -- a fragment is dropped (a place in the page), unless it is a single-page app's route: #/jobs/101, #!/jobs/101
        || CASE WHEN v_fragment IS NULL THEN '' WHEN left(v_fragment, 1) IN ('/', '!')
            THEN '#' || rtrim(v_fragment, '/') ELSE '' END;
END;
$$;

COMMENT ON FUNCTION mlops.normalize_url(text) IS
'Canonical form of a URL for duplicate detection: scheme and host lower-cased, www., default port, fragment, '
'trailing slash and tracking parameters (utm_*, fbclid, gclid, mc_cid, mc_eid, ref, ...) dropped, other query '
'parameters sorted, dot segments removed, percent-encoding normalized (hex upper case, unreserved characters '
'decoded: RFC 3986 6.2.2). A fragment that is a single-page app''s route (#/jobs/101, #!/jobs/101) is kept: it names '
'the page. Path case and ordinary parameters are kept. NULL in, NULL out; a non-URL comes back trimmed.';

REVOKE EXECUTE ON FUNCTION mlops.normalize_url(text) FROM PUBLIC;
