-- mlops.normalize_text: one spelling per text before it is hashed, split or compared, whatever the database's
-- locale: Unicode NFKC (NFD Hangul jamo composed, full-width forms half-width, compatibility forms unfolded),
-- zero-width and bidi format characters removed, every run of spaces (no-break and ideographic ones included) one
-- space, case folded. NULL when no letter or digit is left: a blank value is not evidence. Each step runs only when
-- a cheap test says it changes something: printable ASCII with single spaces only needs lower() and btrim().

CREATE OR REPLACE FUNCTION mlops.normalize_text(p_text text)
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
BEGIN
    IF v_text ~ '[^\x20-\x7E\n\r]|  ' THEN
        IF NOT v_text IS NFKC NORMALIZED THEN
            v_text := pg_catalog.normalize(v_text, 'NFKC');
        END IF;
        IF v_text ~ '[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\uFEFF\t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]|  ' THEN
            v_text := pg_catalog.regexp_replace(pg_catalog.regexp_replace(v_text, '[\u00AD\u180E\u200B-\u200F\u202A-\u202E\u2060-\u2064\uFEFF]', '', 'g'),
                '[ \t\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]+', ' ', 'g');
        END IF;
    END IF;
    v_text := pg_catalog.lower(pg_catalog.btrim(v_text, E' \n\r'));
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
                || 'ƬƮƯƱƲƳƵƷƸƼǄǇǊǍǏǑǓǕǗǙǛǞǠǢǤǦǨǪǬǮǱǴǶǷǸǺǼǾȀȂȄȆȈȊȌȎȐȒȔȖȘȚȜȞȠȢȤȦȨȪȬȮȰȲȺȻȽȾɁɃɄɅɆɈɊɌɎ',
                'āăąćĉċčďđēĕėęěĝğġģĥħĩīĭįĳĵķĺļľŀłńņňŋōŏőœŕŗřśŝşšţťŧũūŭůűųŵŷÿźżžɓƃƅɔƈɖɗƌǝəɛƒɠɣɩɨƙɯɲɵơƣƥʀƨʃ'
                || 'ƭʈưʊʋƴƶʒƹƽǆǉǌǎǐǒǔǖǘǚǜǟǡǣǥǧǩǫǭǯǳǵƕƿǹǻǽǿȁȃȅȇȉȋȍȏȑȓȕȗșțȝȟƞȣȥȧȩȫȭȯȱȳⱥȼƚⱦɂƀʉʌɇɉɋɍɏ');
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
    IF v_text ~ ('[^' || pg_catalog.substr(mlops.text_separator_class(), 2)) THEN
        RETURN v_text;
    END IF;
    RETURN NULL;
END;
$$;

COMMENT ON FUNCTION mlops.normalize_text(text) IS
'Immutable, any locale: the text (text) in one spelling, as detection hashes, splits and compares it. NFKC (NFC and '
'NFD compare equal, full-width ＡＢＣ is ABC, no-break and ideographic spaces are spaces), zero-width and bidi '
'format characters removed, runs of spaces and tabs one space (line breaks kept: they end sentences), trimmed, lower '
'case (Latin, Greek and Cyrillic capitals too under LC_CTYPE C). NULL for NULL and for a text with no letter or '
'digit (only spaces, punctuation, symbols: mlops.text_separator_class()). Needs a UTF8 database (normalize()).';

REVOKE EXECUTE ON FUNCTION mlops.normalize_text(text) FROM PUBLIC;
