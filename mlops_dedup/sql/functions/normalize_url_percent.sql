-- mlops.normalize_url_percent: one spelling for the characters of a URL part (RFC 3986 6.2.2, RFC 3987 3.2): escapes
-- in upper-case hex, unreserved and UTF-8 characters decoded, characters a URL cannot hold raw encoded. Never raises.

CREATE OR REPLACE FUNCTION mlops.normalize_url_percent(p_part text)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- a hex digit's value is (position - 1) % 16
    v_digits CONSTANT text := '0123456789ABCDEF0123456789abcdef';
    v_pieces text[];
    v_count integer;
    v_i integer := 2;
    v_high integer;
    v_low integer;
    v_byte integer;
    v_need integer;
    v_seq text;
    -- convert_from below never raises: the sequence is valid UTF-8 and the database's encoding is UTF-8
    v_utf8 boolean := getdatabaseencoding() = 'UTF8';
    -- one UTF-8 character as escapes, from its lead byte's hex digits on (RFC 3629 section 4)
    v_utf8_sequence CONSTANT text := '(?i)^(?:(?:c[2-9a-f]|d[0-9a-f])|(?:e0%[ab]|e[1-9a-cef]%[89ab]|ed%[89])[0-9a-f]'
        || '|(?:f0%[9ab]|f[1-3]%[89ab]|f4%8)[0-9a-f]%[89ab][0-9a-f])%[89ab][0-9a-f]';
    v_hex text;
    v_out text;
    v_unsafe text;
    v_char text;
BEGIN
    IF p_part IS NULL THEN
        RETURN NULL;
    END IF;
    v_out := p_part;
    IF strpos(p_part, '%') > 0 THEN
        -- Split once at every %: piece i (i > 1) starts with what follows a %. Linear in the length of the part.
        v_pieces := string_to_array(p_part, '%');
        v_count := cardinality(v_pieces);
        WHILE v_i <= v_count LOOP
            v_high := strpos(v_digits, substr(v_pieces[v_i], 1, 1)) - 1;
            v_low := strpos(v_digits, substr(v_pieces[v_i], 2, 1)) - 1;
            IF v_high < 0 OR v_low < 0 OR length(v_pieces[v_i]) < 2 THEN
                -- a % that starts no escape means itself: %25 (as browsers and servers read it)
                v_pieces[v_i] := '%25' || v_pieces[v_i];
                v_i := v_i + 1;
                CONTINUE;
            END IF;
            v_byte := (v_high % 16) * 16 + v_low % 16;
            v_hex := upper(left(v_pieces[v_i], 2));
            IF v_byte < 128 THEN
                -- unreserved (ALPHA DIGIT - . _ ~) decoded; any other ASCII octet stays escaped (%2F is not /)
                IF v_byte BETWEEN 48 AND 57 OR v_byte BETWEEN 65 AND 90 OR v_byte BETWEEN 97 AND 122
                    OR v_byte IN (45, 46, 95, 126) THEN
                    v_pieces[v_i] := chr(v_byte) || substr(v_pieces[v_i], 3);
                ELSE
                    v_pieces[v_i] := '%' || v_hex || substr(v_pieces[v_i], 3);
                END IF;
                v_i := v_i + 1;
                CONTINUE;
            END IF;
            -- A UTF-8 lead byte and its continuation bytes, each escape right after the previous one (the RFC 3629
            -- table: no overlong forms, no surrogates, nothing past U+10FFFF), decoded to the character: %EA%B3%B5
            -- is 공, as the raw character is. Anything else (latin-1 %E9, a cut sequence) stays escaped.
            v_seq := NULL;
            IF v_byte >= 194 AND v_byte <= 244 AND v_utf8 THEN
                -- element by element: a slice of the array would copy all of it
                v_seq := substring(v_pieces[v_i] || '%' || coalesce(v_pieces[v_i + 1], '') || '%'
                    || coalesce(v_pieces[v_i + 2], '') || '%' || coalesce(v_pieces[v_i + 3], '') FROM v_utf8_sequence);
            END IF;
            IF v_seq IS NULL THEN
                v_pieces[v_i] := '%' || v_hex || substr(v_pieces[v_i], 3);
                v_i := v_i + 1;
                CONTINUE;
            END IF;
            v_need := (length(v_seq) + 1) / 3;  -- bytes
            v_pieces[v_i] := convert_from(decode(replace(v_seq, '%', ''), 'hex'), 'UTF8');
            FOR v_k IN v_i + 1 .. v_i + v_need - 2 LOOP
                v_pieces[v_k] := '';
            END LOOP;
            v_pieces[v_i + v_need - 1] := substr(v_pieces[v_i + v_need - 1], 3);
            v_i := v_i + v_need;
        END LOOP;
        v_out := array_to_string(v_pieces, '');
    END IF;

    -- Characters a URL cannot hold raw (RFC 3986 2, WHATWG percent-encode sets): blanks and controls, " < > \ ^ `
    -- { | } [ ]. A browser sends them escaped, so raw and escaped are one page. One pass per distinct character.
    IF v_out !~ '[\x01-\x20\x7f"<>\\^`{|}\[\]]' THEN
        RETURN v_out;
    END IF;
    v_unsafe := regexp_replace(v_out, '[^\x01-\x20\x7f"<>\\^`{|}\[\]]+', '', 'g');
    WHILE v_unsafe <> '' LOOP
        v_char := left(v_unsafe, 1);
        v_out := replace(v_out, v_char, '%' || upper(lpad(to_hex(ascii(v_char)), 2, '0')));
        v_unsafe := replace(v_unsafe, v_char, '');
    END LOOP;
    RETURN v_out;
END;
$$;

COMMENT ON FUNCTION mlops.normalize_url_percent(text) IS
'Internal, for mlops.normalize_url: the URL part with every %xx in upper-case hex, the unreserved characters '
'(A-Z a-z 0-9 - . _ ~) and valid UTF-8 sequences of non-ASCII characters decoded (other octets stay escaped), a % '
'that starts no escape written %25, and blanks, controls and " < > \ ^ ` { | } [ ] percent-encoded. NULL in, NULL out.';

REVOKE EXECUTE ON FUNCTION mlops.normalize_url_percent(text) FROM PUBLIC;
