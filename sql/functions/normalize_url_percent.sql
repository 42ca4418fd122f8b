-- mlops.normalize_url_percent: RFC 3986 6.2.2.1 and 6.2.2.2 for a part of a URL: percent-encoded octets written
-- with upper-case hex digits, and those that encode an unreserved character (ALPHA, DIGIT, -, ., _, ~) decoded,
-- so that %7e, %7E and ~ are one spelling. Other octets (reserved characters, UTF-8 bytes) stay encoded.

CREATE OR REPLACE FUNCTION mlops.normalize_url_percent(p_part text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_out text := '';
    v_rest text := p_part;
    v_at integer;
    v_hex text;
    v_char text;
BEGIN
    IF p_part IS NULL OR strpos(p_part, '%') = 0 THEN
        RETURN p_part;
    END IF;
    LOOP
        v_at := strpos(v_rest, '%');
        EXIT WHEN v_at = 0;
        v_out := v_out || left(v_rest, v_at - 1);
        v_hex := upper(substr(v_rest, v_at + 1, 2));
        IF v_hex ~ '^[0-9A-F]{2}$' THEN
            v_char := chr(('x' || v_hex)::bit(8)::integer);
            v_out := v_out || CASE WHEN v_char ~ '^[A-Za-z0-9._~-]$' THEN v_char ELSE '%' || v_hex END;
            v_rest := substr(v_rest, v_at + 3);
        ELSE
            v_out := v_out || '%';  -- a lone %: kept as it is
            v_rest := substr(v_rest, v_at + 1);
        END IF;
    END LOOP;
    RETURN v_out || v_rest;
END;
$$;

COMMENT ON FUNCTION mlops.normalize_url_percent(text) IS
'Internal, for mlops.normalize_url: the URL part with every %xx in upper-case hex and the unreserved characters '
'(A-Z a-z 0-9 - . _ ~) decoded; a % not followed by two hex digits is kept. NULL in, NULL out.';

REVOKE EXECUTE ON FUNCTION mlops.normalize_url_percent(text) FROM PUBLIC;
