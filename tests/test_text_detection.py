# ruff: noqa: RUF001  (full-width, Cyrillic and Greek letters are this file's test data)
"""Detection on real text (issue 10): any script in any locale, Unicode forms, blank and placeholder values, short
values with typos, URL keys that disagree with their texts, and the evidence for a pair. Each test that depends on
the locale runs in a UTF-8 database and in one created with LC_CTYPE 'C' (locale_dsn)."""

from __future__ import annotations

import random
import unicodedata

import psycopg
import pytest

import runner

LETTERS = "mlops.cover_letter_samples"
POSTINGS = "mlops.job_postings"

KOREAN = (
    "안녕하세요. 저는 5년 동안 데이터 파이프라인을 설계하고 운영한 데이터 엔지니어입니다. 대용량 로그를 실시간으로 "
    "처리하는 스트리밍 시스템을 만들었고, 장애가 나면 원인을 끝까지 추적했습니다. 귀사의 추천 시스템 팀에서 함께 "
    "성장하고 싶습니다. 감사합니다."
)
JAPANESE = (
    "はじめまして。私は東京の会社で五年間データエンジニアとして働いてきました。大量のログを処理する基盤を設計し、"
    "運用してきました。御社の推薦システムの開発に貢献したいと考えています。よろしくお願いいたします。"
)
CHINESE = (
    "您好。我在上海的一家公司担任数据工程师已有五年。我设计并维护了处理海量日志的数据平台。"
    "我希望能够加入贵公司的推荐系统团队。谢谢您的考虑。"
)


def letters(conn: psycopg.Connection, rows: list[tuple[int, str | None, str | None]]) -> None:
    conn.execute(
        "INSERT INTO mlops.cover_letter_samples (id, url, content) OVERRIDING SYSTEM VALUE"
        " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])",
        ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
    )


def members(conn: psycopg.Connection, target: str = LETTERS) -> list[tuple]:
    return conn.execute(
        "SELECT survivor_id, member_id, reason FROM mlops.find_duplicates(%s) ORDER BY member_id", (target,)
    ).fetchall()


def detected_pairs(conn: psycopg.Connection, target: str) -> dict[tuple[int, int], float]:
    """Every verified pair of the last detection pass (the session's edge table), lower id first."""
    conn.execute("SELECT * FROM mlops.dedup_detect(%s::regclass)", (target,))
    return {
        (a, b): score for a, b, score in conn.execute("SELECT a, b, score FROM pg_temp.mlops_dedup_edges WHERE a < b")
    }


@pytest.fixture
def lconn(locale_dsn: str):
    with psycopg.connect(locale_dsn, autocommit=True) as connection:
        yield connection


# A. Any script, any locale


@pytest.mark.parametrize(
    ("text", "changed"),
    [
        (KOREAN, KOREAN.replace("5년", "6년")),
        (KOREAN, KOREAN.replace("감사합니다.", "늘 배우는 자세로 일하겠습니다. 감사합니다.")),
        (JAPANESE, JAPANESE.replace("五年間", "六年間")),
        (JAPANESE, JAPANESE + "面接の機会をいただければ幸いです。"),
        (CHINESE, CHINESE.replace("五年", "六年")),
        (CHINESE, CHINESE.replace("谢谢您的考虑。", "我熟悉实时流处理。谢谢您的考虑。")),
    ],
    ids=["ko-word", "ko-sentence", "ja-word", "ja-sentence", "zh-word", "zh-sentence"],
)
def test_cjk_near_duplicates_merge_in_every_locale(lconn: psycopg.Connection, text: str, changed: str) -> None:
    letters(lconn, [(1, "https://a.example/1", text), (2, "https://b.example/2", changed)])
    found = lconn.execute(
        "SELECT survivor_id, member_id, reason, score FROM mlops.find_duplicates(%s)", (LETTERS,)
    ).fetchall()
    assert [row[:3] for row in found] == [(1, 2, "similar_text")]
    assert found[0][3] >= 0.8


def test_package_trigrams_score_what_pg_trgm_scores_in_a_utf8_locale(conn: psycopg.Connection) -> None:
    pairs = [
        (KOREAN, KOREAN.replace("5년", "6년")),
        (JAPANESE, JAPANESE.replace("五年間", "六年間")),
        (CHINESE, CHINESE[:40]),
        ("Metallica", "Metalica"),
        ("Crème brûlée, naïve café", "creme brulee naive cafe"),
        ("Москва — столица России", "Москва столица"),
        ("data-engineer @ Seoul (2024)", "data engineer, seoul 2024"),
    ]
    for left, right in pairs:
        ours, theirs = conn.execute(
            "SELECT mlops.text_similarity(mlops.normalize_text(%(l)s), mlops.normalize_text(%(r)s)),"
            " similarity(mlops.normalize_text(%(l)s), mlops.normalize_text(%(r)s))",
            {"l": left, "r": right},
        ).fetchone()
        assert ours == pytest.approx(theirs, abs=0.02), (left, right)


def test_pg_trgm_is_blind_only_under_c_ctype(lconn: psycopg.Connection) -> None:
    (ctype,) = lconn.execute("SELECT datctype FROM pg_database WHERE datname = current_database()").fetchone()
    (blind,) = lconn.execute("SELECT mlops.pg_trgm_blind()").fetchone()
    assert blind == (ctype == "C")


def test_install_warns_when_pg_trgm_is_blind(locale_dsn: str) -> None:
    report = runner.install(locale_dsn)
    with psycopg.connect(locale_dsn) as conn:
        (ctype,) = conn.execute("SELECT datctype FROM pg_database WHERE datname = current_database()").fetchone()
    if ctype == "C":
        assert report.locale_warning and "pg_trgm sees no letter outside ASCII" in report.summary()
    else:
        assert report.locale_warning is None and "pg_trgm sees no letter" not in report.summary()


def test_rule_check_warns_when_pg_trgm_is_blind_to_the_rules_text(lconn: psycopg.Connection) -> None:
    letters(lconn, [(1, None, KOREAN)])
    warnings: list[str] = []
    lconn.add_notice_handler(lambda d: warnings.append(d.message_primary or "") if d.severity == "WARNING" else None)
    lconn.execute(
        "UPDATE mlops.dedup_rules SET similar_text = 't.content || '''' ' WHERE target = %s::regclass", (LETTERS,)
    )
    blind = lconn.execute("SELECT mlops.pg_trgm_blind()").fetchone()[0]
    assert any("pg_trgm sees no letter outside ASCII" in w for w in warnings) == blind


# B. Unicode forms


@pytest.mark.parametrize(
    ("left", "right"),
    [
        (unicodedata.normalize("NFC", KOREAN), unicodedata.normalize("NFD", KOREAN)),
        ("ＡＢＣ Ｄａｔａ Ｅｎｇｉｎｅｅｒｉｎｇ ｉｎ Ｓｅｏｕｌ", "ABC Data Engineering in Seoul"),
        ("Senior data\u200b engineer in Seo\u200bul, remote", "Senior data engineer in Seoul, remote"),
        ("Senior\u00a0data engineer\u3000in   Seoul", "Senior data engineer in Seoul"),
        ("SENIOR DATA ENGINEER IN SEOUL", "senior data engineer in seoul"),
        ("ΣΥΝΤΑΞΗ ΔΕΔΟΜΕΝΩΝ ΑΘΗΝΑ", "συνταξη δεδομενων αθηνα"),
        ("ИНЖЕНЕР ДАННЫХ МОСКВА", "инженер данных москва"),
        ("ÉCOLE DES DONNÉES À PARIS", "école des données à paris"),
        ("ｶﾞｲﾄﾞ データ基盤", "ガイド データ基盤"),
    ],
    ids=[
        "nfc-nfd",
        "full-width",
        "zero-width",
        "nbsp-ideographic",
        "case",
        "greek-case",
        "cyrillic-case",
        "latin1-case",
        "half-width-katakana",
    ],
)
def test_unicode_forms_compare_equal(lconn: psycopg.Connection, left: str, right: str) -> None:
    letters(lconn, [(1, None, left), (2, None, right)])
    assert lconn.execute("SELECT mlops.normalize_text(%s) = mlops.normalize_text(%s)", (left, right)).fetchone()[0]
    assert members(lconn) == [(1, 2, "similar_text")]


def test_exact_keys_compare_equal_across_unicode_forms(lconn: psycopg.Connection) -> None:
    url = "https://jobs.example.kr/채용/데이터엔지니어"
    letters(lconn, [(1, unicodedata.normalize("NFC", url), KOREAN), (2, unicodedata.normalize("NFD", url), KOREAN)])
    assert members(lconn) == [(1, 2, "exact_key")]


# C. Blank is not evidence


def test_blank_postings_never_match(lconn: psycopg.Connection) -> None:
    lconn.execute(
        "INSERT INTO mlops.job_postings (id, url, title, company, location, description) OVERRIDING SYSTEM VALUE"
        " VALUES (1, 'https://a.example/jobs/1', NULL, NULL, NULL, NULL),"
        " (2, 'https://b.example/jobs/2', '', '', '', ''),"
        " (3, 'https://c.example/p?id=3', ' ', NULL, '', NULL),"
        " (4, 'https://d.example/jobs/4', NULL, 'Acme', 'Seoul', NULL),"
        " (5, 'https://e.example/jobs/5', NULL, 'Acme', 'Seoul', NULL)"
    )
    lconn.execute(
        "WITH c AS (INSERT INTO mlops.cover_letter_samples (content) VALUES ('x') RETURNING id)"
        " INSERT INTO mlops.job_recommendations (resume_id, job_id, score)"
        " SELECT c.id, j.id, 0.5 FROM c CROSS JOIN mlops.job_postings AS j"
    )
    assert members(lconn, POSTINGS) == []
    lconn.execute("CALL mlops.merge_duplicates(%s)", (POSTINGS,))
    assert lconn.execute("SELECT count(*) FROM mlops.job_postings WHERE deleted_at IS NULL").fetchone() == (5,)
    assert lconn.execute("SELECT count(*) FROM mlops.job_recommendations").fetchone() == (5,)
    assert lconn.execute("SELECT count(*) FROM mlops.duplicate_candidates").fetchone() == (0,)


@pytest.mark.parametrize("blank", ["   ", "", "\u3000\u00a0", " | | . ", "...", "—", "\u200b", "。、！"])
def test_blank_texts_and_keys_never_match(lconn: psycopg.Connection, blank: str) -> None:
    letters(lconn, [(1, blank, blank), (2, blank, blank), (3, blank + " ", blank + " ")])
    assert members(lconn) == []
    assert detected_pairs(lconn, LETTERS) == {}


def test_placeholders_a_rule_names_never_match(lconn: psycopg.Connection) -> None:
    lconn.execute(
        "CREATE TABLE public.people (id int PRIMARY KEY, email text, bio text);"
        "INSERT INTO public.people VALUES (1, 'N/A', 'unknown'), (2, 'n.a.', 'Unknown.'), (3, 'na', 'UNKNOWN'),"
        " (4, 'a@x.kr', '미정'), (5, 'b@x.kr', '미정'), (6, 'ａ@x.kr ', 'first'), (7, 'c@x.kr', '-')"
    )
    lconn.execute(
        "INSERT INTO mlops.dedup_rules (target, exact_key, similar_text, placeholders)"
        " VALUES ('public.people', 't.email', 't.bio', ARRAY['N/A', 'unknown', '미정'])"
    )
    assert members(lconn, "public.people") == [(4, 6, "exact_key")]


# D. Short values


@pytest.fixture
def artists(lconn: psycopg.Connection) -> psycopg.Connection:
    lconn.execute("CREATE TABLE public.artists (id int PRIMARY KEY, name text)")
    lconn.execute(
        "INSERT INTO mlops.dedup_rules (target, similar_text, threshold, review_threshold)"
        " VALUES ('public.artists', 't.name', 0.7, 0.5)"
    )
    return lconn


def test_short_names_with_a_typo_or_punctuation_match(artists: psycopg.Connection) -> None:
    artists.execute(
        "INSERT INTO public.artists VALUES (1, 'Metallica'), (2, 'Metalica'), (3, 'Aerosmith'), (4, 'Aerosmith.'),"
        " (5, 'AC/DC'), (6, 'ACDC'), (7, '방탄소년단'), (8, '방탄소년단!'), (9, 'Queen'), (10, 'Beyoncé'),"
        " (11, 'Beyonce'), (12, 'Radiohead')"
    )
    pairs = detected_pairs(artists, "public.artists")
    for pair in [(1, 2), (3, 4), (7, 8), (10, 11)]:
        assert pair in pairs, pair
    assert members(artists, "public.artists")[:2] == [(1, 2, "similar_text"), (3, 4, "similar_text")]


def typo(rng: random.Random, name: str) -> str:
    i = rng.randrange(len(name))
    kind = rng.choice(["drop", "insert", "swap", "substitute", "punct", "case"])
    if kind == "drop":
        return name[:i] + name[i + 1 :]
    if kind == "insert":
        return name[:i] + rng.choice("aeiouxz") + name[i:]
    if kind == "swap" and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    if kind == "substitute":
        return name[:i] + rng.choice("aeiouxz") + name[i + 1 :]
    if kind == "punct":
        return name + rng.choice([".", "!", ",", " -", " (live)"])
    return name.upper()


def test_short_value_candidates_equal_a_brute_force_similarity_join(artists: psycopg.Connection) -> None:
    """Every pair at or above review_threshold by a brute-force join over all pairs is a candidate (prefix filtering
    is exact), in both locales."""
    rng = random.Random(10)
    syllables = [
        "ka",
        "ro",
        "mi",
        "tal",
        "li",
        "ca",
        "aer",
        "os",
        "smi",
        "th",
        "ban",
        "dan",
        "so",
        "nyeon",
        "데",
        "이",
        "터",
        "방",
        "탄",
        "ze",
        "ppe",
        "lin",
    ]
    names = []
    for _ in range(250):
        name = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if rng.random() < 0.4:
            name += " " + "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3)))
        names.append(name.capitalize())
        if rng.random() < 0.5:
            names.append(typo(rng, name))
    artists.execute(
        "INSERT INTO public.artists SELECT n.i, n.name FROM unnest(%s::text[]) WITH ORDINALITY AS n (name, i)",
        (names,),
    )
    truth = {
        (a, b)
        for a, b in artists.execute(
            "SELECT x.id, y.id FROM public.artists AS x JOIN public.artists AS y ON y.id > x.id"
            " WHERE mlops.normalize_text(x.name) IS DISTINCT FROM mlops.normalize_text(y.name)"
            " AND mlops.text_similarity(mlops.normalize_text(x.name), mlops.normalize_text(y.name)) >= 0.5"
        )
    }
    assert len(truth) > 20
    assert truth <= set(detected_pairs(artists, "public.artists"))


# E and 6. URL keys


def test_single_page_app_routes_stay_different_postings(lconn: psycopg.Connection) -> None:
    lconn.execute(
        "INSERT INTO mlops.job_postings (id, url, title, company, location, description) OVERRIDING SYSTEM VALUE"
        " VALUES (1, 'https://careers.example.com/#/jobs/101', 'Backend engineer', 'Example', 'Seoul', 'Go, Kafka.'),"
        " (2, 'https://careers.example.com/#/jobs/202', 'Product designer', 'Example', 'Busan', 'Figma, research.'),"
        " (3, 'https://careers.example.com/#/jobs/101/', 'Backend engineer', 'Example', 'Seoul', 'Go, Kafka.')"
    )
    assert members(lconn, POSTINGS) == [(1, 3, "exact_key")]


def test_an_exact_key_whose_texts_disagree_goes_to_review(lconn: psycopg.Connection) -> None:
    letters(
        lconn,
        [
            (1, "https://l.example.com/a", KOREAN),
            (2, "https://www.l.example.com/a/?utm_source=feed", JAPANESE),
            (3, "https://l.example.com/a#top", KOREAN.replace("5년", "6년")),
        ],
    )
    assert members(lconn) == [(1, 3, "exact_key")]
    lconn.execute("CALL mlops.merge_duplicates(%s)", (LETTERS,))
    assert lconn.execute(
        "SELECT id FROM mlops.cover_letter_samples WHERE deleted_at IS NULL ORDER BY id"
    ).fetchall() == [
        (1,),
        (2,),
    ]
    queued = lconn.execute(
        "SELECT left_key, right_key, reason, score < 0.55 FROM mlops.duplicate_candidates WHERE target = %s::regclass",
        (LETTERS,),
    ).fetchall()
    assert queued == [("1", "2", "exact_key_text_differs", True)]


# 7. Evidence


def test_match_evidence_says_which_signal_matched(lconn: psycopg.Connection) -> None:
    letters(
        lconn,
        [
            (1, "https://l.example.com/a", KOREAN),
            (2, "https://l.example.com/b", unicodedata.normalize("NFD", KOREAN.replace("5년", "6년"))),
            (3, "https://l.example.com/a/", JAPANESE),
            (4, "https://l.example.com/c", "   "),
        ],
    )
    rows = lconn.execute("SELECT signal, score, outcome FROM mlops.match_evidence(%s::regclass, 1, 2)", (LETTERS,))
    evidence = {signal: (score, outcome) for signal, score, outcome in rows}
    assert evidence["exact_key"] == (0, "different")
    assert evidence["similar_text"][0] >= 0.8 and "threshold 0.8" in evidence["similar_text"][1]
    assert evidence["verdict"][1] == "merge (similar_text)"
    verdict = lconn.execute(
        "SELECT outcome FROM mlops.match_evidence(%s::regclass, 1, 3) WHERE signal = 'verdict'", (LETTERS,)
    ).fetchone()[0]
    assert verdict.startswith("review (exact_key_text_differs)")
    blank = lconn.execute(
        "SELECT left_value, right_value, outcome FROM mlops.match_evidence(%s::regclass, 1, 4)"
        " WHERE signal = 'similar_text'",
        (LETTERS,),
    ).fetchone()
    assert blank[1] is None and blank[2] == "no evidence: blank or a placeholder"


def test_match_evidence_refuses_unknown_rows_and_tables(conn: psycopg.Connection) -> None:
    letters(conn, [(1, None, "x")])
    with pytest.raises(psycopg.errors.NoDataFound, match=r"no row of mlops\.cover_letter_samples has key 2"):
        conn.execute("SELECT * FROM mlops.match_evidence(%s::regclass, 1, 2)", (LETTERS,))
    conn.execute("CREATE TABLE public.norule (id int PRIMARY KEY)")
    with pytest.raises(psycopg.errors.UndefinedObject, match=r"no dedup rule for public\.norule"):
        conn.execute("SELECT * FROM mlops.match_evidence('public.norule'::regclass, 1, 2)")


# The platform's seeded rule and the database the package needs


def test_install_platform_replaces_the_seeded_rule_that_built_text_out_of_nulls(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "UPDATE mlops.dedup_rules SET similar_text = %s WHERE target = %s::regclass",
            (runner.PLATFORM_RULES_SUPERSEDED[POSTINGS], POSTINGS),
        )
    report = runner.adopt_platform(dsn)
    assert any("no longer built from NULL fields" in change for change in report.changes)
    with psycopg.connect(dsn, autocommit=True) as conn:
        (text,) = conn.execute(
            "SELECT similar_text FROM mlops.dedup_rules WHERE target = %s::regclass", (POSTINGS,)
        ).fetchone()
        assert text == next(r["similar_text"] for r in runner.PLATFORM_RULES if r["target"] == POSTINGS)
        # a rule the platform's owner wrote differently is theirs: left as it is
        conn.execute("UPDATE mlops.dedup_rules SET similar_text = 't.title' WHERE target = %s::regclass", (POSTINGS,))
    runner.adopt_platform(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute(
            "SELECT similar_text FROM mlops.dedup_rules WHERE target = %s::regclass", (POSTINGS,)
        ).fetchone() == ("t.title",)


def test_install_refuses_a_database_that_is_not_utf8(server: runner.EmbeddedPostgresql, admin_dsn: str) -> None:
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE latin1_db TEMPLATE template0 ENCODING 'LATIN1' LC_CTYPE 'C' LC_COLLATE 'C'")
    dsn = server.url(database="latin1_db")
    try:
        with pytest.raises(runner.RunnerError, match="encoding is LATIN1: mlops-dedup needs a UTF8 database"):
            runner.install(dsn)
        with psycopg.connect(dsn) as conn:
            assert conn.execute("SELECT to_regnamespace('mlops')").fetchone() == (None,)
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE latin1_db WITH (FORCE)")


# Found in review: the kinds above, at their edges


def test_long_texts_without_sentences_stay_linear_and_are_found(lconn: psycopg.Connection) -> None:
    """800-character skill lists without punctuation go to capped word tokens, not to prefix filtering (which would
    pair every row with every other); a near-duplicate among them is still found."""
    rng = random.Random(3)
    vocabulary = [f"skill{i}" for i in range(300)]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(60)) for _ in range(1000)]
    texts.append(texts[0].replace(texts[0].split()[5], "kubernetes", 1))
    letters(lconn, [(i + 1, None, text) for i, text in enumerate(texts)])
    live, candidates, *_ = lconn.execute("SELECT * FROM mlops.dedup_detect(%s::regclass)", (LETTERS,)).fetchone()
    assert live == 1001 and candidates < 5000
    assert (1, 1001, "similar_text") in members(lconn)


def test_short_texts_meet_across_sentence_punctuation(lconn: psycopg.Connection) -> None:
    letters(
        lconn,
        [
            (1, None, "Senior Data Engineer. Seoul office, Korea"),
            (2, None, "Senior Data Engineer, Seoul office, Korea"),
        ],
    )
    assert members(lconn) == [(1, 2, "similar_text")]


def test_every_row_of_a_repeated_text_keeps_its_own_edges(lconn: psycopg.Connection) -> None:
    """Rows 2 and 3 share a text, rows 4 and 5 another close to it; row 2 goes to row 1 by its key, so row 3 survives
    and must still absorb both 4 and 5 (each member matches its survivor directly)."""
    x = KOREAN
    y = KOREAN.replace("5년", "6년")
    s = JAPANESE + " " + KOREAN[:60]
    letters(
        lconn,
        [
            (1, "https://k.example/a", s),
            (2, "https://k.example/a", x),
            (3, "https://k.example/3", x),
            (4, "https://k.example/4", y),
            (5, "https://k.example/5", y),
        ],
    )
    lconn.execute("UPDATE mlops.dedup_rules SET keep_order = 't.id' WHERE target = %s::regclass", (LETTERS,))
    found = {(m, s) for s, m, _ in members(lconn)}
    assert {m for m, _ in found} >= {4, 5}
    assert dict(found)[4] == dict(found)[5]


def test_placeholders_apply_to_block_keys(lconn: psycopg.Connection) -> None:
    lconn.execute(
        "CREATE TABLE public.stores (id int PRIMARY KEY, name text, city text);"
        "INSERT INTO public.stores VALUES (1, 'Blue Bottle Coffee', 'N/A'), (2, 'Blue Bottle Coffee!', 'n/a'),"
        " (3, 'Blue Bottle Coffee', 'Seoul'), (4, 'Blue Bottle Coffee.', 'Busan')"
    )
    lconn.execute(
        "INSERT INTO mlops.dedup_rules (target, similar_text, block_key, placeholders)"
        " VALUES ('public.stores', 't.name', 't.city', ARRAY['N/A'])"
    )
    # a missing city is no block: 1 and 2 still pair (as rows without a block), 3 and 4 are in different cities
    assert members(lconn, "public.stores") == [(1, 2, "similar_text")]
    evidence = lconn.execute(
        "SELECT left_value, right_value FROM mlops.match_evidence('public.stores'::regclass, 1, 2)"
        " WHERE signal = 'block_key'"
    ).fetchone()
    assert evidence == (None, None)


def test_emoji_only_values_are_blank(lconn: psycopg.Connection) -> None:
    letters(lconn, [(1, "❤️", "❤️"), (2, "❤️", "❤️ "), (3, "👍", "✔️")])
    assert members(lconn) == []


def test_a_rule_whose_sample_fails_is_still_written_with_a_warning(lconn: psycopg.Connection) -> None:
    letters(lconn, [(1, None, KOREAN)])
    lconn.execute(
        "UPDATE mlops.dedup_rules SET similar_text = '(1 / (t.id - 1))::text || t.content' WHERE target = %s::regclass",
        (LETTERS,),
    )
    assert (
        lconn.execute("SELECT similar_text FROM mlops.dedup_rules WHERE target = %s::regclass", (LETTERS,))
        .fetchone()[0]
        .startswith("(1 / (t.id - 1))")
    )


@pytest.mark.parametrize(
    ("left", "right"),
    [("İSTANBUL OFİSİ", "istanbul ofisi"), ("ΚΩΣΤΑΣ ΠΑΠΑΣ", "κωστας παπας"), ("cafe\u200b\u0301", "café")],
    ids=["dotted-capital-i", "final-sigma", "zero-width-before-combining"],
)
def test_normalize_text_agrees_in_both_locales(lconn: psycopg.Connection, left: str, right: str) -> None:
    assert lconn.execute("SELECT mlops.normalize_text(%s) = mlops.normalize_text(%s)", (left, right)).fetchone()[0]


def test_exact_keys_keep_their_case(lconn: psycopg.Connection) -> None:
    """A URL's query or path can differ only in case (video ids, short links): such keys are different pages."""
    lconn.execute(
        "INSERT INTO mlops.job_postings (id, url, title) OVERRIDING SYSTEM VALUE VALUES"
        " (1, 'https://jobs.example.com/view?id=AbC', 'Data engineer in Seoul'),"
        " (2, 'https://jobs.example.com/view?id=abc', 'Product designer in Busan'),"
        " (3, 'https://JOBS.example.com/view?id=AbC', 'Data engineer in Seoul')"
    )
    assert [row[:2] for row in members(lconn, POSTINGS)] == [(1, 3)]
    key = lconn.execute(
        "SELECT left_value, right_value, outcome FROM mlops.match_evidence(%s::regclass, 1, 2)"
        " WHERE signal = 'exact_key'",
        (POSTINGS,),
    ).fetchone()
    assert key == ("https://jobs.example.com/view?id=AbC", "https://jobs.example.com/view?id=abc", "different")


def test_a_huge_word_is_split_not_squared(lconn: psycopg.Connection) -> None:
    (n,) = lconn.execute("SELECT cardinality(mlops.text_trigrams(repeat('word', 250000)))").fetchone()
    assert n == 7  # '  w', ' wo', and the five trigrams inside the repetition


def test_review_shows_control_characters_as_escapes() -> None:
    assert runner.printable("Iv\nan\x1b[31mRED\x1b[0m\rXX") == "Iv\\nan\\x1b[31mRED\\x1b[0m\\rXX"
    assert runner.printable("방탄소년단 ＡＢＣ") == "방탄소년단 ＡＢＣ"
