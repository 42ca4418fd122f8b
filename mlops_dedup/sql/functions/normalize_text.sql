-- mlops.normalize_text: one spelling per text before it is hashed, split or compared, whatever the database's
-- locale: Unicode NFKC (NFD Hangul jamo composed, full-width forms half-width, compatibility forms unfolded),
-- zero-width and bidi format characters removed, every run of spaces (no-break and ideographic ones included) one
-- space, case folded (not with p_fold_case false: detection's keys). NULL when no letter or digit is left: a blank
-- value is not evidence. Each step runs only when a cheap test says it changes something.

CREATE OR REPLACE FUNCTION mlops.normalize_text(p_text text, p_fold_case boolean DEFAULT TRUE)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
SECURITY INVOKER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    v_text text := p_text;
    -- soft hyphen, combining grapheme joiner, Mongolian vowel separator, zero-width space/joiners, direction marks,
    -- embeddings and isolates, word joiner and invisible operators, byte order mark, tag characters
    v_format CONSTANT text :=
        '[\u00AD\u034F\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\U000E0000-\U000E007F]';
    -- spaces, tabs, vertical tab, form feed, next line, no-break, Ogham, en to hair spaces, line and paragraph
    -- separators, narrow no-break, medium mathematical, ideographic (line feed and carriage return stay: they end
    -- sentences)
    v_spaces CONSTANT text := '[ \t\x0B\x0C\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]';
BEGIN
    IF v_text ~ '[^\x20-\x7E\n\r]|  ' THEN
        -- format characters first: NFKC then composes what they kept apart (cafe, U+200B, U+0301 is café)
        IF v_text ~ v_format THEN
            v_text := pg_catalog.regexp_replace(v_text, v_format, '', 'g');
        END IF;
        IF NOT v_text IS NFKC NORMALIZED THEN
            v_text := pg_catalog.normalize(v_text, 'NFKC');
        END IF;
        IF v_text ~ (v_spaces || '|  ') THEN
            v_text := pg_catalog.regexp_replace(v_text, v_spaces || '+', ' ', 'g');
        END IF;
    END IF;
    -- one line break: CR LF and CR are LF
    IF pg_catalog.strpos(v_text, E'\r') > 0 THEN
        v_text := pg_catalog.replace(pg_catalog.replace(v_text, E'\r\n', E'\n'), E'\r', E'\n');
    END IF;
    v_text := pg_catalog.btrim(v_text, E' \n');
    IF NOT p_fold_case THEN
        -- keys: case may be all that tells two apart (a URL's path or query, a video id, a SKU)
        RETURN CASE WHEN v_text ~ ('[^' || pg_catalog.substr(mlops.text_separator_class(), 2)) THEN v_text END;
    END IF;
    v_text := pg_catalog.lower(v_text);
    -- lower() folds only ASCII under LC_CTYPE 'C': translate() folds the Latin, Greek and Cyrillic capitals there
    -- (maps generated from Python's unicodedata: category Lu whose lower case is one character), so that both
    -- locales give the same text
    IF pg_catalog.lower('Ä') <> 'ä' AND v_text ~ '[\u00C0-\u00DE\u0100-\u024F\u0370-\u052F\u1E00-\u1EFF]' THEN
        -- Latin-1
        IF v_text ~ '[\u00C0-\u00DE]' THEN
            v_text := pg_catalog.translate(v_text,
                'ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞ',
                'àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþ');
        END IF;
        -- Latin Extended-A and -B
        IF v_text ~ '[\u0100-\u024F]' THEN
            v_text := pg_catalog.translate(v_text,
                'ĀĂĄĆĈĊČĎĐĒĔĖĘĚĜĞĠĢĤĦĨĪĬĮĲĴĶĹĻĽĿŁŃŅŇŊŌŎŐŒŔŖŘŚŜŞŠŢŤŦŨŪŬŮŰŲŴŶŸŹŻŽƁƂƄƆƇƉƊƋƎƏƐƑƓƔƖƗƘƜƝƟƠƢƤƦƧƩ'
                || 'ƬƮƯƱƲƳƵƷƸƼǄǇǊǍǏǑǓǕǗǙǛǞǠǢǤǦǨǪǬǮǱǴǶǷǸǺǼǾȀȂȄȆȈȊȌȎȐȒȔȖȘȚȜȞȠȢȤȦȨȪȬȮȰȲȺȻȽȾɁɃɄɅɆɈɊɌɎİ',
                'āăąćĉċčďđēĕėęěĝğġģĥħĩīĭįĳĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷÿźżžɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵơƣƥʀƨʃ'
                || 'ƭʈưʊʋƴƶʒƹƽǆǉǌǎǐǒǔǖǘǚǜǟǡǣǥǧǩǫǭǯǳǵƕƿǹǻǽǿȁȃȅȇȉȋȍȏȑȓȕȗșțȝȟƞȣȥȧȩȫȭȯȱȳⱥȼƚⱦɂƀʉʌɇɉɋɍɏi');
        END IF;
        -- Greek
        IF v_text ~ '[\u0370-\u03FF]' THEN
            v_text := pg_catalog.translate(v_text,
                'ͰͲͶͿΆΈΉΊΌΎΏΑΒΓΔΕΖΗΘΙΚΛΜΝΞΟΠΡΣΤΥΦΧΨΩΪΫϏϘϚϜϞϠϢϤϦϨϪϬϮϴϷϹϺϽϾϿ',
                'ͱͳͷϳάέήίόύώαβγδεζηθικλμνξοπρστυφχψωϊϋϗϙϛϝϟϡϣϥϧϩϫϭϯθϸϲϻͻͼͽ');
        END IF;
        -- Cyrillic
        IF v_text ~ '[\u0400-\u052F]' THEN
            v_text := pg_catalog.translate(v_text,
                'ЀЁЂЃЄЅІЇЈЉЊЋЌЍЎЏАБВГДЕЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯѠѢѤѦѨѪѬѮѰѲѴѶѸѺѼѾҀҊҌҎҐҒҔҖҘҚҜҞҠҢҤҦҨҪҬҮҰҲҴҶ'
                || 'ҸҺҼҾӀӁӃӅӇӉӋӍӐӒӔӖӘӚӜӞӠӢӤӦӨӪӬӮӰӲӴӶӸӺӼӾԀԂԄԆԈԊԌԎԐԒԔԖԘԚԜԞԠԢԤԦԨԪԬԮ',
                'ѐёђѓєѕіїјљњћќѝўџабвгдежзийклмнопрстуфхцчшщъыьэюяѡѣѥѧѩѫѭѯѱѳѵѷѹѻѽѿҁҋҍҏґғҕҗҙқҝҟҡңҥҧҩҫҭүұҳҵҷ'
                || 'ҹһҽҿӏӂӄӆӈӊӌӎӑӓӕӗәӛӝӟӡӣӥӧөӫӭӯӱӳӵӷӹӻӽӿԁԃԅԇԉԋԍԏԑԓԕԗԙԛԝԟԡԣԥԧԩԫԭԯ');
        END IF;
        -- Latin Extended Additional
        IF v_text ~ '[\u1E00-\u1EFF]' THEN
            v_text := pg_catalog.translate(v_text,
                'ḀḂḄḆḈḊḌḎḐḒḔḖḘḚḜḞḠḢḤḦḨḪḬḮḰḲḴḶḸḺḼḾṀṂṄṆṈṊṌṎṐṒṔṖṘṚṜṞṠṢṤṦṨṪṬṮṰṲṴṶṸṺṼṾẀẂẄẆẈẊẌẎẐẒẔẞẠẢẤẦẨẪẬẮẰẲẴẶ'
                || 'ẸẺẼẾỀỂỄỆỈỊỌỎỐỒỔỖỘỚỜỞỠỢỤỦỨỪỬỮỰỲỴỶỸỺỼỾ',
                'ḁḃḅḇḉḋḍḏḑḓḕḗḙḛḝḟḡḣḥḧḩḫḭḯḱḳḵḷḹḻḽḿṁṃṅṇṉṋṍṏṑṓṕṗṙṛṝṟṡṣṥṧṩṫṭṯṱṳṵṷṹṻṽṿẁẃẅẇẉẋẍẏẑẓẕßạảấầẩẫậắằẳẵặ'
                || 'ẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹỻỽỿ');
        END IF;
    END IF;
    -- a word-final sigma is a sigma
    IF pg_catalog.strpos(v_text, 'ς') > 0 THEN
        v_text := pg_catalog.replace(v_text, 'ς', 'σ');
    END IF;
    IF v_text ~ ('[^' || pg_catalog.substr(mlops.text_separator_class(), 2)) THEN
        RETURN v_text;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.normalize_text(text, boolean) IS
'Immutable, any locale: the text (text) in one spelling, as detection hashes, splits and compares it; with '
'p_fold_case false (detection''s keys) everything but the case folding. NFKC (NFC and '
'NFD compare equal, full-width ＡＢＣ is ABC, no-break and ideographic spaces are spaces), zero-width and bidi '
'format characters removed, runs of spaces and tabs one space (line breaks kept: they end sentences), trimmed, lower '
'case (Latin, Greek and Cyrillic capitals too under LC_CTYPE C). NULL for NULL and for a text with no letter or '
'digit (only spaces, punctuation, symbols: mlops.text_separator_class()). Needs a UTF8 database (normalize()).';

REVOKE EXECUTE ON FUNCTION mlops.normalize_text(text, boolean) FROM PUBLIC;
