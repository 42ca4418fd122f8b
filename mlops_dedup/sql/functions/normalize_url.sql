-- mlops.normalize_url: one spelling per page, so crawls of the same URL compare equal, and distinct pages stay apart.
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
    -- Each statement of PL/pgSQL costs about as much as the string work it does, so the declarations compute nothing
    -- and the common shape of URL takes a short path (see below); the tracking names are one constant.
    v_raw text;
    v_url text;
    -- a % or a character that needs escaping or dropping: rare, so the work for them is skipped otherwise
    v_dirty boolean;
    -- the URL took the short path
    v_common boolean := false;
    v_parts text[];
    v_at integer;
    v_rest text;
    v_scheme text;
    v_special boolean;
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
    v_depth integer;
    v_tracking text[];
BEGIN
    -- The common shape: http(s)://host[:port][/path][?query][#fragment] with nothing to escape, decode or drop in
    -- it (no %, blank, control, " < > \ ^ ` { | } [ ], no @ or ;), no dot segment or run of slashes, a host that is
    -- not empty and has no empty label, a port that is a number: cut with a few string functions, the same result
    -- as the general parse below (tests/test_normalize_url_short_path.py compares the two), in about a third of the
    -- statements (each costs about as much as the string work it does). Anything else, or a doubt found midway,
    -- takes the general parse.
    IF p_url !~ '[%\x01-\x20\x7f"<>\\^`{|}\[\]@;]' AND strpos(p_url, '/.') = 0 THEN
        v_scheme := CASE WHEN lower(left(p_url, 8)) = 'https://' THEN 'https'
            WHEN lower(left(p_url, 7)) = 'http://' THEN 'http' END;
        v_rest := substr(p_url, length(v_scheme) + 4);
        IF strpos(v_rest, '//') = 0 THEN
            IF strpos(v_rest, '#') + strpos(v_rest, '?') > 0 THEN
                v_at := strpos(v_rest, '#');
                IF v_at > 0 THEN
                    v_fragment := substr(v_rest, v_at + 1);
                    v_rest := left(v_rest, v_at - 1);
                    IF left(v_fragment, 1) IN ('/', '!') THEN
                        v_fragment := nullif(nullif(rtrim(v_fragment, '/'), '!'), '');
                    ELSE
                        v_fragment := NULL;
                    END IF;
                END IF;
                v_at := strpos(v_rest, '?');
                IF v_at > 0 THEN
                    v_query := substr(v_rest, v_at + 1);
                    v_rest := left(v_rest, v_at - 1);
                END IF;
            END IF;
            v_authority := split_part(v_rest, '/', 1);
            IF strpos(v_authority, ':') = 0 THEN
                v_host := btrim(lower(v_authority), '.');
            ELSE
                v_at := strpos(v_authority, ':');
                v_host := btrim(lower(left(v_authority, v_at - 1)), '.');
                v_port := substr(v_authority, v_at + 1);
                -- not a number (host:1:2, host:x): the general parse says what that is
                v_host := CASE WHEN translate(v_port, '0123456789', '') = '' THEN v_host END;
                v_port := nullif(ltrim(v_port, '0'), '');
                IF (v_scheme = 'http' AND v_port = '80') OR (v_scheme = 'https' AND v_port = '443') THEN
                    v_port := NULL;
                END IF;
            END IF;
            IF v_host <> '' AND strpos(v_host, '..') = 0 THEN
                IF left(v_host, 4) = 'www.' THEN
                    WHILE left(v_host, 4) = 'www.' AND strpos(substr(v_host, 5), '.') > 0 LOOP
                        v_host := substr(v_host, 5);
                    END LOOP;
                END IF;
                v_path := rtrim(substr(v_rest, length(v_authority) + 1), '/');
                v_common := true;
            END IF;
        END IF;
    END IF;
    IF NOT v_common THEN
        -- what the short path may have set before it gave up
        v_scheme := NULL;
        v_fragment := NULL;
        v_query := NULL;
        v_port := NULL;
        -- what WHATWG URL parsing strips from both ends: C0 controls and space
        v_raw := btrim(p_url, E' \x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10'
            || E'\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f');
        v_dirty := v_raw ~ '[%\x01-\x20\x7f"<>\\^`{|}\[\]]';
        v_url := v_raw;
        IF v_dirty THEN
            -- WHATWG URL: tabs and newlines anywhere are dropped (a URL wrapped in an e-mail or a form field)
            v_url := translate(v_raw, E'\t\n\r', '');
        END IF;

        -- scheme:[//]authority/path?query#fragment, cut with string functions (a regular expression for the whole URL
        -- costs about twice the rest of this function). The special schemes of WHATWG (http, https, ws, wss, ftp) take
        -- any run of slashes or backslashes after "scheme:", as browsers do: http:\\host\a, http:/host and http:host
        -- are http://host/a and http://host; other schemes need "//".
        v_at := strpos(v_url, ':');
        IF v_at > 1 AND left(v_url, v_at - 1) ~ '^[A-Za-z][A-Za-z0-9+.-]*$' THEN
            v_scheme := lower(left(v_url, v_at - 1));
            v_rest := substr(v_url, v_at + 1);
            v_special := v_scheme IN ('http', 'https', 'ws', 'wss', 'ftp');
            IF NOT v_special AND left(v_rest, 2) <> '//' THEN
                v_scheme := NULL;  -- mailto:x@y, or host:port without a scheme
            END IF;
        END IF;
        IF v_scheme IS NOT NULL THEN
            v_at := strpos(v_rest, '#');
            IF v_at > 0 THEN
                v_fragment := substr(v_rest, v_at + 1);
                v_rest := left(v_rest, v_at - 1);
            END IF;
            v_at := strpos(v_rest, '?');
            IF v_at > 0 THEN
                v_query := substr(v_rest, v_at + 1);
                v_rest := left(v_rest, v_at - 1);
            END IF;
            IF v_special THEN
                v_rest := ltrim(CASE WHEN v_dirty THEN translate(v_rest, '\', '/') ELSE v_rest END, '/');
            ELSE
                v_rest := substr(v_rest, 3);
            END IF;
            v_authority := split_part(v_rest, '/', 1);
            IF v_special AND v_authority = '' THEN
                RETURN v_raw;  -- http: or http:/// has no host: not a URL
            END IF;
            v_path := substr(v_rest, length(v_authority) + 1);
        ELSE
            -- No scheme: accept "host.tld/path" or "//host.tld/path"; anything else is not a URL.
            v_parts := regexp_match(
                v_url, '^(?://)?([^/?#[:space:]@:]+\.[^/?#[:space:]]+)((?:/[^?#]*)?)(?:\?([^#]*))?(?:#(.*))?$'
            );
            IF v_parts IS NULL THEN
                RETURN v_raw;
            END IF;
            v_authority := v_parts[1];
            v_path := v_parts[2];
            v_query := v_parts[3];
            v_fragment := v_parts[4];
        END IF;

        -- [userinfo@]host[:port]: userinfo ends at the last @ (WHATWG); an IPv6 host keeps its brackets. Plain string
        -- functions where they do: this runs once per row of a table.
        IF strpos(v_authority, '@') = 0 AND strpos(v_authority, ':') = 0 THEN
            v_host := v_authority;
        ELSE
            IF strpos(v_authority, '@') > 0 THEN
                v_at := length(v_authority) + 1 - strpos(reverse(v_authority), '@');
                -- Userinfo names credentials, not the page: dropped for the web's schemes (RFC 9110 4.2.4 deprecates
                -- it there; Nutch and Heritrix drop it), kept where it picks what is served (ftp://user@host: the
                -- user's files), an empty one dropped.
                IF v_scheme IS NOT NULL AND v_scheme NOT IN ('http', 'https', 'ws', 'wss') THEN
                    v_userinfo := nullif(rtrim(left(v_authority, v_at - 1), ':'), '');
                END IF;
                v_authority := substr(v_authority, v_at + 1);
            END IF;
            v_hostport := regexp_match(v_authority, '^(\[[^]]*\]|[^:]*)(?::([0-9]*))?$');
            IF v_hostport IS NULL THEN
                RETURN v_raw;  -- a port that is not a number (host:abc, host:1:2): not a URL
            END IF;
            v_host := v_hostport[1];
            v_port := v_hostport[2];
        END IF;

        -- Host: escapes decoded (example%2Ecom), lower case (Unicode letters too, by the database's LC_CTYPE), no
        -- empty labels (leading, trailing or doubled dots), no leading www. while a dot follows (www.com is a host of
        -- its own).
        IF v_dirty AND v_host ~ '[^A-Za-z0-9.-]' AND NOT (left(v_host, 1) = '[' AND right(v_host, 1) = ']') THEN
            v_host := mlops.normalize_url_percent(v_host);
        END IF;
        v_host := btrim(lower(v_host), '.');
        IF v_host = '' OR strpos(v_host, '..') > 0 THEN
            IF v_special AND v_host = '' THEN
                RETURN v_raw;  -- http://.../a or http://user@/a has no host: not a URL
            END IF;
            v_host := regexp_replace(v_host, '\.{2,}', '.', 'g');
        END IF;
        WHILE left(v_host, 4) = 'www.' AND strpos(substr(v_host, 5), '.') > 0 LOOP
            v_host := substr(v_host, 5);
        END LOOP;
        -- Port: as a number (:080 is :80), empty or the scheme's default dropped.
        IF v_port IS NOT NULL THEN
            v_port := nullif(ltrim(v_port, '0'), '');
            IF (v_scheme IN ('http', 'ws') AND v_port = '80') OR (v_scheme IN ('https', 'wss') AND v_port = '443')
                OR (v_scheme = 'ftp' AND v_port = '21') THEN
                v_port := NULL;
            END IF;
        END IF;

        -- A fragment is a place in the page and is dropped, unless it is a single-page app's route (#/jobs/101,
        -- #!/jobs/101), which names the page; #/ and #! are the app's root, the page itself.
        IF v_fragment IS NOT NULL THEN
            IF left(v_fragment, 1) IN ('/', '!') THEN
                v_fragment := rtrim(v_fragment, '/');
            END IF;
            IF left(v_fragment, 1) NOT IN ('/', '!') OR v_fragment = '!' THEN
                v_fragment := NULL;
            END IF;
        END IF;

        -- Percent-encoding (mlops.normalize_url_percent): only when there is a % or a character to encode at all.
        IF v_dirty THEN
            IF v_path <> '' THEN
                v_path := mlops.normalize_url_percent(v_path);
            END IF;
            IF v_query <> '' THEN
                v_query := mlops.normalize_url_percent(v_query);
            END IF;
            IF v_fragment <> '' THEN
                v_fragment := mlops.normalize_url_percent(v_fragment);
            END IF;
        END IF;
        -- Path: a Java session id (;jsessionid=...) is not part of the page; runs of slashes are one (servers merge
        -- them: Nutch, crawler-commons); dot segments removed (RFC 3986 5.2.4: /a/./b/../c is /a/c), with a stack
        -- (one array write per segment, linear); trailing slashes dropped.
        IF strpos(v_path, ';') > 0 OR strpos(v_path, '//') > 0 OR strpos(v_path, '/.') > 0 THEN
            IF strpos(lower(v_path), ';jsessionid=') > 0 THEN
                v_path := regexp_replace(v_path, ';jsessionid=[^/;]*', '', 'gi');
            END IF;
            IF strpos(v_path, '//') > 0 THEN
                v_path := regexp_replace(v_path, '/{2,}', '/', 'g');
            END IF;
            IF strpos(v_path, '/.') > 0 THEN
                v_depth := 0;
                v_segments := '{}';
                FOREACH v_segment IN ARRAY string_to_array(substr(v_path, 2), '/') LOOP
                    IF v_segment = '..' THEN
                        v_depth := greatest(v_depth - 1, 0);
                    ELSIF v_segment <> '.' THEN
                        v_depth := v_depth + 1;
                        v_segments[v_depth] := v_segment;
                    END IF;
                END LOOP;
                v_path := '/' || array_to_string(v_segments[1:v_depth], '/');
            END IF;
        END IF;
        v_path := rtrim(v_path, '/');
    END IF;

    -- Query (application/x-www-form-urlencoded, as servers read it): a space is +, "b=" is "b"; empty, tracking
    -- and session parameters dropped; the rest sorted by name, the values of one name kept in their order (a
    -- repeated name's order can matter: PHP reads the last, Java the first). An insertion sort in PL/pgSQL, since a
    -- query string has a handful of parameters and a SQL sort would cost a query per URL, but a SQL sort past 32
    -- of them (the insertion sort is quadratic: 16k parameters took 22 s).
    IF v_query IS NOT NULL THEN
        -- tracking parameters (same page, other campaign) and session ids (same page, other visitor)
        v_tracking := ARRAY[
            'fbclid', 'gclid', 'dclid', 'gbraid', 'wbraid', 'msclkid', 'yclid', 'igshid',
            'mc_cid', 'mc_eid', 'ref', '_ga', '_gl', '_hsenc', '_hsmi', 'mkt_tok', 'jsessionid', 'phpsessid'
        ];
        IF v_dirty THEN
            v_query := replace(v_query, '%20', '+');  -- every % starts an escape here, so %20 is one
        END IF;
        IF strpos(v_query, '=&') > 0 OR right(v_query, 1) = '=' THEN
            v_query := regexp_replace(v_query, '(^|&)([^&=]*)=(?=&|$)', '\1\2', 'g');  -- b= is b
        END IF;
        IF strpos(v_query, '&') = 0 THEN
            -- one parameter (the common case): kept unless empty, tracking or a session id; nothing to sort
            v_name := lower(split_part(v_query, '=', 1));
            v_query := CASE WHEN v_query = '' OR left(v_name, 4) = 'utm_' OR v_name = ANY (v_tracking) THEN NULL
                ELSE v_query END;
        ELSE
            v_parts := string_to_array(v_query, '&');
            IF cardinality(v_parts) > 32 THEN
                SELECT array_agg(u.p ORDER BY split_part(u.p, '=', 1) COLLATE "C", u.n) INTO v_params
                FROM unnest(v_parts) WITH ORDINALITY AS u (p, n)
                WHERE u.p <> '' AND left(lower(split_part(u.p, '=', 1)), 4) <> 'utm_'
                    AND NOT lower(split_part(u.p, '=', 1)) = ANY (v_tracking);
                v_parts := ARRAY[]::text[];
            END IF;
            FOREACH v_param IN ARRAY v_parts LOOP
                v_name := split_part(v_param, '=', 1);
                CONTINUE WHEN v_param = '' OR left(lower(v_name), 4) = 'utm_' OR lower(v_name) = ANY (v_tracking);
                v_i := coalesce(cardinality(v_params), 0);
                WHILE v_i > 0 AND split_part(v_params[v_i], '=', 1) COLLATE "C" > v_name COLLATE "C" LOOP
                    v_params[v_i + 1] := v_params[v_i];
                    v_i := v_i - 1;
                END LOOP;
                v_params[v_i + 1] := v_param;
            END LOOP;
            v_query := nullif(array_to_string(v_params, '&'), '');
        END IF;
    END IF;

    RETURN coalesce(v_scheme || '://', '')
        || coalesce(v_userinfo || '@', '')
        || v_host
        || coalesce(':' || v_port, '')
        || v_path
        || coalesce('?' || v_query, '')
        || coalesce('#' || v_fragment, '');
END;
$$;

COMMENT ON FUNCTION mlops.normalize_url(text) IS
'Canonical form of a URL for duplicate detection (RFC 3986 6.2, WHATWG URL parsing, crawler practice): blanks at the '
'ends, tabs and newlines dropped; scheme and host lower-cased; www., trailing dots, userinfo (http, https, ws, wss), '
'empty and default ports (80, 443, 21; ws 80, wss 443), the fragment (unless a single-page app''s route: '
'#/jobs/101, #!/jobs/101), ;jsessionid=, repeated and trailing slashes and dot segments dropped; percent-encoding '
'normalized (hex upper case, unreserved and UTF-8 characters decoded, blanks and characters a URL cannot hold raw '
'encoded; a space in the query is +); empty, tracking (utm_*, fbclid, gclid, ref, ...) and session (jsessionid, '
'phpsessid) parameters dropped, b= written b, the rest sorted by name (values of a repeated name keep their order). '
'Path case, parameter names and index.html are kept. Never raises: NULL in, NULL out; a non-URL (no host, a port '
'that is not a number) comes back trimmed.';

REVOKE EXECUTE ON FUNCTION mlops.normalize_url(text) FROM PUBLIC;
