"""Realistic platform data with planted duplicates, generated inside PostgreSQL (demo, tests, benchmarks).

Cover letters are ~1.5 KB of sentences over a Zipf-weighted vocabulary, so unrelated letters share common words
(trigram similarity about 0.3) and boilerplate sentences; job postings have a title, company, location and a short
description. A fraction of rows gets planted duplicates: the same page under a URL variant, or a copy with one to
three words changed (near-duplicate), and a few heavier rewrites that land in the review band.
"""

from __future__ import annotations

import random

import psycopg
import psycopg.sql

VOCABULARY = [
    "i",
    "have",
    "worked",
    "as",
    "a",
    "data",
    "engineer",
    "machine",
    "learning",
    "ml",
    "model",
    "pipeline",
    "production",
    "team",
    "project",
    "experience",
    "years",
    "python",
    "sql",
    "spark",
    "airflow",
    "kubernetes",
    "docker",
    "cloud",
    "aws",
    "gcp",
    "platform",
    "service",
    "api",
    "design",
    "build",
    "deploy",
    "monitor",
    "improve",
    "reduce",
    "cost",
    "latency",
    "quality",
    "customer",
    "product",
    "business",
    "analysis",
    "research",
    "deep",
    "learning",
    "nlp",
    "vision",
    "recommendation",
    "system",
    "real",
    "time",
    "batch",
    "streaming",
    "feature",
    "store",
    "training",
    "inference",
    "evaluation",
    "metric",
    "dashboard",
    "stakeholder",
    "lead",
    "mentor",
    "junior",
    "senior",
    "engineer",
    "scientist",
    "analyst",
    "startup",
    "company",
    "global",
    "scale",
    "million",
    "users",
    "daily",
    "data",
    "warehouse",
    "lake",
    "etl",
    "pipeline",
    "orchestration",
    "testing",
    "reliability",
    "on",
    "call",
    "incident",
    "review",
    "documentation",
    "open",
    "source",
    "contribute",
    "passion",
    "motivated",
    "learn",
    "fast",
    "collaborate",
    "communicate",
    "cross",
    "functional",
    "agile",
    "scrum",
    "sprint",
    "deliver",
    "impact",
    "growth",
    "korea",
    "seoul",
    "busan",
    "remote",
    "hybrid",
    "office",
    "role",
    "position",
    "opportunity",
    "apply",
    "excited",
    "join",
    "mission",
    "culture",
    "values",
]

SYLLABLES = [c + v for c in "bcdfghjklmnprstvwz" for v in "aeiou"]
# The common words first (most frequent under the Zipf-like draw), then 4,000 rarer synthetic ones.
VOCABULARY = VOCABULARY + [
    SYLLABLES[(i * 7) % 90] + SYLLABLES[(i * 13 + 5) % 90] + ("" if i % 3 else SYLLABLES[(i * 29 + 11) % 90])
    for i in range(4000)
]

BOILERPLATE = [
    "I am writing to apply for the position advertised on your careers page.",
    "Thank you for taking the time to consider my application.",
    "I look forward to hearing from you.",
    "Please find my resume attached for your review.",
]

SETUP = """
CREATE OR REPLACE FUNCTION pg_temp.datagen_sentence(p_seed double precision) RETURNS text
LANGUAGE sql VOLATILE AS $f$
    -- Zipf-like: low word numbers are much more frequent
    SELECT initcap(string_agg(
        (%(words)s::text[])[1 + floor(power(random(), 1.6) * %(nwords)s)::int], ' ' ORDER BY g.i)) || '.'
    FROM generate_series(1, 8 + (p_seed * 1000)::int %% 10) AS g (i)
$f$;
CREATE OR REPLACE FUNCTION pg_temp.datagen_letter(p_sentences int) RETURNS text
LANGUAGE sql VOLATILE AS $f$
    SELECT CASE WHEN random() < 0.5 THEN %(open)s || ' ' ELSE '' END
        || string_agg(pg_temp.datagen_sentence(random()), ' ')
        || CASE WHEN random() < 0.5 THEN ' ' || %(close)s ELSE '' END
    FROM generate_series(1, p_sentences)
$f$;
-- some words of a text replaced by common words
CREATE OR REPLACE FUNCTION pg_temp.datagen_edit(p_text text, p_words int) RETURNS text
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    v_words text[] := string_to_array(p_text, ' ');
BEGIN
    FOR i IN 1..p_words LOOP
        v_words[1 + floor(random() * cardinality(v_words))::int] :=
            (%(words)s::text[])[1 + floor(random() * 60)::int];
    END LOOP;
    RETURN array_to_string(v_words, ' ');
END
$f$;
"""

GENERATE = """
SELECT setseed(%(seed)s);

INSERT INTO mlops.job_postings (url, title, company, location, description)
SELECT 'https://jobs.example.com/postings/' || g,
       initcap(pg_temp.datagen_sentence(random())),
       'Company ' || (1 + floor(random() * 2000)::int),
       (ARRAY['Seoul', 'Busan', 'Remote', 'Incheon', 'Daejeon'])[1 + floor(random() * 5)::int],
       pg_temp.datagen_letter(3)
FROM generate_series(1, %(postings)s) AS g;

INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT 'https://letters.example.com/samples/' || g,
       'Cover letter ' || g,
       CASE WHEN random() < 0.8 THEN 'Company ' || (1 + floor(random() * 2000)::int) END,
       CASE WHEN random() < 0.8
            THEN (ARRAY['ML Engineer', 'Data Engineer', 'Data Scientist'])[1 + floor(random() * 3)::int] END,
       pg_temp.datagen_letter(14)
FROM generate_series(1, %(letters)s) AS g;

-- Planted duplicates of a fraction of the originals: URL variants (exact key), copies with one to three words
-- changed (near-duplicates), and heavier rewrites (review band). A copy keeps its original's title, and its URL
-- says what kind of copy it is; planted_pairs records (target, original, copy, kind).
WITH picked AS (
    SELECT l.*, random() AS r FROM mlops.cover_letter_samples AS l
    WHERE l.id <= %(letters_max)s AND random() < %(dup_fraction)s
)
INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT CASE WHEN p.r < 0.4 THEN p.url || '?utm_source=crawler&ref=feed'
            WHEN p.r < 0.9 THEN p.url || '/copy-near' ELSE p.url || '/copy-rewrite' END,
       p.title, NULL, p.position,
       CASE WHEN p.r < 0.4 THEN p.content
            WHEN p.r < 0.9 THEN pg_temp.datagen_edit(p.content, 1 + floor(random() * 3)::int)
            ELSE pg_temp.datagen_edit(p.content, 70) END
FROM picked AS p
ORDER BY p.id;

WITH picked AS (
    SELECT j.*, random() AS r FROM mlops.job_postings AS j
    WHERE j.id <= %(postings_max)s AND random() < %(dup_fraction)s
)
INSERT INTO mlops.job_postings (url, title, company, location, description)
SELECT CASE WHEN p.r < 0.5 THEN replace(p.url, 'https://', 'https://www.') || '/?utm_medium=feed'
            ELSE p.url || '-repost' END,
       p.title, p.company, p.location,
       CASE WHEN p.r < 0.5 THEN p.description ELSE pg_temp.datagen_edit(p.description, 1) END
FROM picked AS p
ORDER BY p.id;

CREATE TEMP TABLE IF NOT EXISTS planted_pairs (target text, original bigint, copy bigint, kind text);
INSERT INTO planted_pairs
SELECT 'mlops.cover_letter_samples', o.id, c.id,
       CASE WHEN c.url LIKE '%%utm_source%%' THEN 'url' WHEN c.url LIKE '%%/copy-near' THEN 'near' ELSE 'rewrite' END
FROM mlops.cover_letter_samples AS c
INNER JOIN mlops.cover_letter_samples AS o ON o.title = c.title AND o.id <= %(letters_max)s
WHERE c.id > %(letters_max)s
UNION ALL
SELECT 'mlops.job_postings', o.id, c.id, CASE WHEN c.url LIKE '%%utm_medium%%' THEN 'url' ELSE 'near' END
FROM mlops.job_postings AS c
INNER JOIN mlops.job_postings AS o ON o.title = c.title AND o.company = c.company AND o.id <= %(postings_max)s
WHERE c.id > %(postings_max)s;

-- Recommendations (every letter for a few jobs; copies collide with their originals) and interactions.
INSERT INTO mlops.job_recommendations (resume_id, job_id, score)
SELECT l.id, j.job_id, round(random()::numeric, 3)
FROM mlops.cover_letter_samples AS l
CROSS JOIN LATERAL (
    -- a copy shares two of its original's jobs (collisions once merged) and has one of its own
    SELECT DISTINCT
        1 + ((CASE WHEN k < 2 THEN coalesce(pp.original, l.id) ELSE l.id END * 37 + k * 11) %% %(postings)s) AS job_id
    FROM generate_series(0, 2) AS k
    LEFT JOIN planted_pairs AS pp ON pp.target = 'mlops.cover_letter_samples' AND pp.copy = l.id
) AS j
ON CONFLICT DO NOTHING;

INSERT INTO mlops.user_interactions (user_id, job_id, recommendation_id, interaction_type)
SELECT 1 + floor(random() * 5000)::int, r.job_id, r.id,
       (ARRAY['view', 'click', 'apply', 'save'])[1 + floor(random() * 4)::int]
FROM mlops.job_recommendations AS r
WHERE random() < 0.3;

ANALYZE mlops.job_postings, mlops.cover_letter_samples, mlops.job_recommendations, mlops.user_interactions;
"""


def generate(
    conn: psycopg.Connection, *, postings: int, letters: int, dup_fraction: float = 0.1, seed: float = 0.42
) -> dict[str, int]:
    """Insert generated platform data with planted duplicates; returns row counts per table and planted pairs."""
    setup_functions(conn)
    with conn.transaction():
        conn.execute(
            _inline(
                GENERATE,
                {
                    "seed": seed,
                    "postings": postings,
                    "letters": letters,
                    "dup_fraction": dup_fraction,
                    "letters_max": letters,
                    "postings_max": postings,
                },
            )
        )
    tables = ("job_postings", "cover_letter_samples", "job_recommendations", "user_interactions")
    counts = {t: conn.execute(f"SELECT count(*) FROM mlops.{t}").fetchone()[0] for t in tables}
    counts["planted_pairs"] = conn.execute("SELECT count(*) FROM planted_pairs").fetchone()[0]
    return counts


def setup_functions(conn: psycopg.Connection) -> None:
    """The session's pg_temp generators: datagen_sentence(seed), datagen_letter(sentences), datagen_edit(text, n)."""
    params = {"words": VOCABULARY, "nwords": len(VOCABULARY), "open": BOILERPLATE[0], "close": BOILERPLATE[1]}
    conn.execute(_inline(SETUP, params))


def _inline(template: str, params: dict[str, object]) -> str:
    """Fill %(name)s with SQL literals (psycopg quoting); several statements cannot take bound parameters."""
    literals = {k: psycopg.sql.Literal(v).as_string(None) for k, v in params.items()}
    return template % literals


# ---------------------------------------------------------------- Korean cover letters
#
# Sentences of Korean cover letters (자기소개서) from templates: formal '-습니다.' and polite '-요.' endings, years
# ('5년'), percentages, company, team, role and work vocabulary, English technology names as Korean letters write
# them. A slot name followed by a particle ('{O을}') takes the particle's form that fits the word's last syllable
# (을/를, 이/가, 과/와, 으로/로). One letter in six is written in the résumé's list style (개조식): a few sentences,
# then lines '- ...' without a final period. No letter uses '。'.


def _split(text: str) -> list[str]:
    """A comma-separated list written over several lines (Korean words are twice as wide as ruff counts them)."""
    return [w.strip() for w in text.split(",") if w.strip()]


KO_TEMPLATES = [
    "{C}에서 {Y}년 동안 {R로} 일하며 {O을} {V}했습니다.",
    "{TM}에서 {T}, {T2}, {T3} 등을 활용해 {O을} {V}하고 {V2}했습니다.",
    "그 결과 {M을} {P}% 줄이고 {K이} {P2}% 높아졌습니다.",
    "이 과정에서 {S을} 기를 수 있었습니다.",
    "대학에서 {MJ을} 전공하며 데이터를 다루는 일에 흥미를 갖게 되었습니다.",
    "{C}의 {R} 포지션에 지원하게 되어 기쁩니다.",
    "입사 후에는 {O을} 고도화하는 데 기여하고 싶습니다.",
    "{Y}년간 쌓은 경험을 바탕으로 {C}의 성장에 기여하겠습니다.",
    "팀원들과 코드 리뷰와 문서화를 꾸준히 해 왔어요.",
    "장애가 발생하면 원인을 빠르게 찾고 재발 방지 대책을 세웠습니다.",
    "하루 {N}만 건의 요청을 처리하는 {O} 운영을 맡았습니다.",
    "'{PJ}' 프로젝트에서는 {O을} 처음부터 {V}했어요.",
    "{D} 분야의 데이터를 다루며 도메인 지식을 쌓았습니다.",
    "요즘은 {T} 관련 스터디를 {Y}년째 운영하고 있어요.",
    "가장 중요한 역량으로 {S을} 꼽습니다.",
    "데이터 품질 문제를 해결하기 위해 검증 규칙과 알림 체계를 {V}했습니다.",
    "매주 {TM과} 협업하며 요구사항을 정리하고 우선순위를 조율했습니다.",
    "{M을} 개선하기 위해 {T} 기반의 {O을} {V}했습니다.",
    "사용자 {N}만 명 규모의 {D} 서비스에서 {O을} 담당했어요.",
    "신입 팀원 {Y2}명의 온보딩을 도우며 멘토 역할도 했습니다.",
    "실험 결과를 대시보드로 공유해 의사결정 속도를 높였습니다.",
    "비용을 줄이기 위해 {T} 클러스터의 자원 사용량을 분석하고 스케줄링 정책을 {V}했습니다.",
    "{C}의 일하는 방식과 가치에 깊이 공감합니다.",
    "특히 {D} 도메인에서 {R로} 더 성장하고 싶습니다.",
    "온콜을 맡으며 {N}건이 넘는 장애를 처리했습니다.",
    "배포 과정을 자동화해 배포 시간을 {P}% 단축했어요.",
    "오픈소스 {T} 프로젝트에 버그 수정과 문서를 기여한 경험도 있습니다.",
    "문제를 정의하고 가설을 세운 뒤 데이터로 검증하는 방식을 선호합니다.",
    "저는 {Y}년 차 {R}입니다.",
    "{MJ} 석사 과정에서 {O을} 주제로 연구했습니다.",
    "{C}의 {TM}에서 {O을} 함께 만들어 가고 싶어요.",
    "작은 개선이라도 측정하고 기록하는 습관을 갖고 있습니다.",
    "'{PJ}' 서비스의 {M을} 분석해 병목 구간을 찾아냈습니다.",
    "{T} 기반 레거시 코드를 {T2} 기반으로 옮기는 작업을 주도했습니다.",
    "그 경험을 통해 {S}의 중요성을 배웠어요.",
    "{D} 스타트업에서 {Y}년 동안 데이터 조직을 처음부터 꾸렸습니다.",
    "모델의 성능뿐 아니라 운영 안정성까지 책임지는 {R이} 되고 싶습니다.",
    "{K이} 정체된 상황에서 {O을} {V}해 {P}% 향상시켰습니다.",
    "고객 {N}만 명의 행동 로그를 분석해 이탈 원인을 찾았습니다.",
    "매일 아침 지표를 확인하며 이상 징후를 먼저 발견하려고 노력해요.",
    "{C}에 입사하기 전에는 {C2}에서 {R로} {Y2}년간 근무했습니다.",
    "당시 {O이} 자주 멈춰서 {TM}의 업무가 지연되곤 했습니다.",
    "저는 원인을 찾기 위해 {T} 로그를 하나하나 확인하고 재현 환경을 만들었습니다.",
    "결국 {M을} {P}% 줄였고 같은 문제는 다시 발생하지 않았습니다.",
    "{R로}서 {S이} 가장 큰 강점이라고 생각합니다.",
    "{C}의 '{PJ}' 서비스를 매일 쓰는 사용자이기도 해요.",
    "{Y}년 전 처음 {T} 프로젝트를 맡은 뒤로 데이터 엔지니어링에 매력을 느꼈습니다.",
    "기술 부채를 줄이기 위해 분기마다 {O} 리팩터링 계획을 세웠습니다.",
    "현업 부서와 지표 정의를 맞추는 데 {Y2}개월이 걸렸지만 이후 보고 시간이 크게 줄었습니다.",
    "{K을} 높이기 위한 실험을 {N}회 이상 설계하고 분석했어요.",
    "{C} {TM}의 기술 블로그를 읽으며 {O}에 대한 고민에 공감했습니다.",
    "사내 {T} 교육을 {Y2}차례 진행하며 동료들의 생산성을 높였습니다.",
    "야간 배치가 실패하면 아침에 바로 복구할 수 있도록 재처리 절차를 {V}했습니다.",
    "데이터 요청이 몰릴 때는 우선순위를 투명하게 공유해 신뢰를 쌓았어요.",
    "{D} 분야는 데이터의 품질이 곧 서비스의 품질이라고 배웠습니다.",
    "앞으로 {Y}년 안에 {O을} 책임지는 리드가 되는 것이 목표입니다.",
]
KO_BULLETS = [
    "- {C} {R} ({Y}년)",
    "- {T}, {T2} 기반 {O} {V} 및 {V2}",
    "- {M} {P}% 절감",
    "- {K} {P}% 향상",
    "- {TM} {O} 운영 담당",
    "- 일 {N}만 건 규모 {O} {V}",
    "- {MJ} 전공, {T} 활용 능력 보유",
    "- '{PJ}' 프로젝트 리드 ({Y2}인 팀)",
    "- {D} 도메인 경험 {Y}년",
    "- 신규 입사자 {Y2}명 멘토링",
    "- {T} 사내 교육 {Y2}회 진행",
    "- 장애 대응 프로세스 {V} (온콜 {N}건 처리)",
]
KO_BOILERPLATE = [
    "안녕하십니까, 귀사의 채용 공고를 보고 지원하게 되었습니다.",
    "끝까지 읽어 주셔서 감사합니다.",
]
KO_COMPANIES = _split(
    """
    네이버, 카카오, 쿠팡, 삼성전자, LG CNS, 토스, 우아한형제들, 당근마켓, 라인플러스, SK텔레콤, 현대자동차, KT,
    엔씨소프트, 넥슨, 크래프톤, 야놀자, 무신사, 컬리, 직방, 하이퍼커넥트
    """
)
KO_SYLLABLES = list(
    "가나다라마바사아자차카타파하한누리온별빛솔담새봄결들해달물숲길꿈미래정보세진우주은서연도윤지민호성신태희영수경"
)
KO_COMPANY_SUFFIXES = _split(
    """
    테크, 소프트, 랩스, 데이터, 시스템즈, 네트웍스, 솔루션, 커머스, 모빌리티, 헬스
    """
)
KO_ROLES = _split(
    """
    데이터 엔지니어, 머신러닝 엔지니어, 백엔드 개발자, 데이터 분석가, MLOps 엔지니어, 데이터 사이언티스트,
    플랫폼 엔지니어, AI 리서처, 검색 엔지니어, 소프트웨어 엔지니어
    """
)
KO_OBJECTS = _split(
    """
    데이터 파이프라인, 추천 시스템, 실시간 스트리밍 플랫폼, 피처 스토어, 모델 서빙 인프라, A/B 테스트 플랫폼,
    검색 랭킹 모델, 데이터 웨어하우스, 배치 ETL 작업, 모니터링 대시보드, 이상 거래 탐지 모델, 수요 예측 모델,
    로그 수집 시스템, 데이터 카탈로그, 라벨링 도구, MLOps 플랫폼, CI/CD 파이프라인, 광고 입찰 시스템,
    사용자 세분화 모델, 챗봇 응답 모델, 문서 분류 모델, 이미지 검수 모델, 데이터 레이크, 실험 관리 시스템,
    결제 정산 배치, 재고 최적화 모델, 개인화 푸시 시스템, 가격 책정 모델, 리뷰 감성 분석 모델,
    데이터 품질 검증 도구
    """
)
KO_VERBS = _split(
    """
    설계, 구축, 개발, 운영, 개선, 자동화, 고도화, 재설계, 도입, 최적화, 이전, 표준화
    """
)
KO_TECH = _split(
    """
    Python, SQL, Spark, Airflow, Kafka, Kubernetes, Docker, AWS, GCP, PyTorch, TensorFlow, dbt, BigQuery, Flink,
    Terraform, MLflow, Kubeflow, Redis, PostgreSQL, Elasticsearch, Hive, Trino, FastAPI, Go, Scala, Java,
    Snowflake, Databricks
    """
)
KO_METRICS = _split(
    """
    처리 시간, 응답 지연, 클라우드 비용, 장애 건수, 배포 시간, 모델 학습 시간, 데이터 적재 시간, 쿼리 비용,
    수작업 시간, 서버 비용
    """
)
KO_KPIS = _split(
    """
    클릭률, 전환율, 추천 정확도, 재현율, 정밀도, 매출, 재구매율, 사용자 만족도, 검색 성공률, 잔존율
    """
)
KO_SKILLS = _split(
    """
    문제 해결 능력, 책임감, 주도성, 소통 능력, 꼼꼼함, 끈기, 협업 능력, 데이터 기반 사고, 학습 능력, 리더십
    """
)
KO_TEAMS = _split(
    """
    데이터 플랫폼팀, 추천팀, 검색팀, 광고팀, 결제팀, 물류팀, MLOps팀, 인프라팀, 데이터 분석팀, AI 연구팀,
    그로스팀, 리스크팀
    """
)
KO_MAJORS = _split(
    """
    컴퓨터공학, 통계학, 산업공학, 수학, 전자공학, 경영학, 물리학, 경제학
    """
)
KO_DOMAINS = _split(
    """
    이커머스, 핀테크, 게임, 모빌리티, 헬스케어, 광고, 콘텐츠, 물류, 교육, 부동산, 여행, 보안
    """
)
# words a near-duplicate's one changed word becomes, and a rewrite's many
KO_COMMON = _split(
    """
    데이터를, 경험을, 서비스의, 팀에서, 다양한, 함께, 빠르게, 새로운, 모델을, 운영, 개선을
    """
)


def _ko_names(count: int, suffixes: list[str], seed: int) -> list[str]:
    """Made-up Korean names (two or three syllables and an optional suffix), distinct, the same for a seed."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        word = "".join(rng.choice(KO_SYLLABLES) for _ in range(rng.choice((2, 3))))
        names[word + (rng.choice(suffixes) if suffixes else "")] = None
    return list(names)


KO_COMPANIES = KO_COMPANIES + _ko_names(2000, KO_COMPANY_SUFFIXES, 0)
KO_PROJECTS = _ko_names(1500, [], 5000)

SETUP_KOREAN = """
-- the word with the particle's form that fits its last syllable: pair '을를', '이가', '과와', '으로로'
CREATE OR REPLACE FUNCTION pg_temp.datagen_ko_josa(p_word text, p_pair text) RETURNS text
LANGUAGE sql IMMUTABLE AS $f$
    SELECT p_word || CASE
        WHEN ascii(right(p_word, 1)) NOT BETWEEN 44032 AND 55203 OR (ascii(right(p_word, 1)) - 44032) %% 28 = 0
            OR p_pair = '으로로' AND (ascii(right(p_word, 1)) - 44032) %% 28 = 8
            THEN right(p_pair, 1)
        ELSE left(p_pair, length(p_pair) - 1) END
$f$;
CREATE OR REPLACE FUNCTION pg_temp.datagen_ko_pick(p_words text[]) RETURNS text
LANGUAGE sql VOLATILE AS $f$
    SELECT p_words[1 + floor(random() * cardinality(p_words))::int]
$f$;
-- plpgsql, not sql: a SQL function called from another is planned again at every call, plpgsql keeps its plans
-- a template's slots filled (team, major, domain and project are filled by datagen_ko_sentence); companies drawn
-- Zipf-like, the well-known ones first
CREATE OR REPLACE FUNCTION pg_temp.datagen_ko_fill(p_template text) RETURNS text
LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    RETURN (
        SELECT replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
               replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(replace(
               replace(p_template,
            '{C}', v.c), '{C2}', v.c2), '{Y}', v.y), '{Y2}', v.y2), '{R}', v.r),
            '{R로}', pg_temp.datagen_ko_josa(v.r, '으로로')), '{R이}', pg_temp.datagen_ko_josa(v.r, '이가')),
            '{O}', v.o), '{O을}', pg_temp.datagen_ko_josa(v.o, '을를')), '{O이}', pg_temp.datagen_ko_josa(v.o, '이가')),
            '{V}', v.v), '{V2}', v.v2), '{T}', v.t), '{T2}', v.t2), '{T3}', v.t3),
            '{P}', v.p), '{P2}', v.p2),
            '{M}', v.m), '{M을}', pg_temp.datagen_ko_josa(v.m, '을를')), '{K}', v.k),
            '{K이}', pg_temp.datagen_ko_josa(v.k, '이가')), '{K을}', pg_temp.datagen_ko_josa(v.k, '을를')),
            '{S}', v.s), '{S을}', pg_temp.datagen_ko_josa(v.s, '을를')), '{S이}', pg_temp.datagen_ko_josa(v.s, '이가')),
            '{N}', v.n)
        FROM (SELECT
            (%(companies)s::text[])[1 + floor(power(random(), 2) * %(ncompanies)s)::int] AS c,
            (%(companies)s::text[])[1 + floor(power(random(), 2) * %(ncompanies)s)::int] AS c2,
            (1 + floor(power(random(), 1.5) * 12)::int)::text AS y,
            (2 + floor(random() * 8)::int)::text AS y2,
            pg_temp.datagen_ko_pick(%(roles)s) AS r, pg_temp.datagen_ko_pick(%(objects)s) AS o,
            pg_temp.datagen_ko_pick(%(verbs)s) AS v, pg_temp.datagen_ko_pick(%(verbs)s) AS v2,
            pg_temp.datagen_ko_pick(%(tech)s) AS t, pg_temp.datagen_ko_pick(%(tech)s) AS t2,
            pg_temp.datagen_ko_pick(%(tech)s) AS t3,
            (5 + floor(random() * 18)::int * 5)::text AS p, (3 + floor(random() * 40)::int)::text AS p2,
            pg_temp.datagen_ko_pick(%(metrics)s) AS m, pg_temp.datagen_ko_pick(%(kpis)s) AS k,
            pg_temp.datagen_ko_pick(%(skills)s) AS s, (1 + floor(power(random(), 2) * 500)::int)::text AS n
        ) AS v
    );
END
$f$;
CREATE OR REPLACE FUNCTION pg_temp.datagen_ko_sentence(p_list boolean) RETURNS text
LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    RETURN (
        SELECT replace(replace(replace(replace(replace(replace(
                pg_temp.datagen_ko_fill(CASE WHEN p_list
                    THEN pg_temp.datagen_ko_pick(%(bullets)s)
                    ELSE (%(templates)s::text[])[1 + floor(power(random(), 1.3) * %(ntemplates)s)::int] END),
            '{TM}', v.tm), '{TM과}', pg_temp.datagen_ko_josa(v.tm, '과와')), '{MJ}', v.mj),
            '{MJ을}', pg_temp.datagen_ko_josa(v.mj, '을를')), '{D}', v.d), '{PJ}', v.pj)
        FROM (SELECT pg_temp.datagen_ko_pick(%(teams)s) AS tm, pg_temp.datagen_ko_pick(%(majors)s) AS mj,
                     pg_temp.datagen_ko_pick(%(domains)s) AS d, pg_temp.datagen_ko_pick(%(projects)s) AS pj) AS v
    );
END
$f$;
-- a letter of p_sentences sentences; one in six in list style: three sentences, then lines '- ...', then one
CREATE OR REPLACE FUNCTION pg_temp.datagen_ko_letter(p_sentences int) RETURNS text
LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    RETURN (
        SELECT CASE WHEN l.list THEN
                (SELECT string_agg(pg_temp.datagen_ko_sentence(false), ' ') FROM generate_series(1, 3))
                || E'\\n주요 경력은 다음과 같습니다.\\n'
                || (SELECT string_agg(pg_temp.datagen_ko_sentence(true), E'\\n') FROM generate_series(1, p_sentences))
                || E'\\n' || pg_temp.datagen_ko_sentence(false)
            ELSE
                CASE WHEN random() < 0.5 THEN %(open)s || ' ' ELSE '' END
                || (SELECT string_agg(pg_temp.datagen_ko_sentence(false), ' ') FROM generate_series(1, p_sentences))
                || CASE WHEN random() < 0.5 THEN ' ' || %(close)s ELSE '' END
            END
        FROM (SELECT random() < 1.0 / 6 AS list) AS l
    );
END
$f$;
-- A near-duplicate or a rewrite: 'number' (the first 'N년' becomes 'N+1년'), 'word' (one word replaced), 'add'
-- (one sentence inserted), 'remove' (one sentence left out), 'rewrite' (p_words words replaced).
CREATE OR REPLACE FUNCTION pg_temp.datagen_ko_edit(p_text text, p_kind text, p_words int DEFAULT 1) RETURNS text
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    v_list boolean := position(E'\\n' IN p_text) > 0;
    v_parts text[];
    v_words text[];
    v_at int;
    v_years text[] := regexp_match(p_text, '(\\d+)년');
BEGIN
    IF p_kind = 'number' AND v_years IS NOT NULL THEN
        RETURN regexp_replace(p_text, '\\d+년', (v_years[1]::int + 1) || '년');
    ELSIF p_kind IN ('add', 'remove') THEN
        v_parts := CASE WHEN v_list THEN string_to_array(p_text, E'\\n') ELSE regexp_split_to_array(p_text, '(?<=[.]) ')
            END;
        -- in a list-style letter, a line of the list (not the opening sentences)
        v_at := CASE WHEN v_list THEN 3 + floor(random() * (cardinality(v_parts) - 3))::int
                     ELSE 1 + floor(random() * cardinality(v_parts))::int END;
        IF p_kind = 'add' THEN
            v_parts := v_parts[1:v_at] || pg_temp.datagen_ko_sentence(v_list) || v_parts[v_at + 1:];
        ELSE
            v_parts := v_parts[1:v_at - 1] || v_parts[v_at + 1:];
        END IF;
        RETURN array_to_string(v_parts, CASE WHEN v_list THEN E'\\n' ELSE ' ' END);
    END IF;
    v_words := string_to_array(p_text, ' ');
    FOR i IN 1..p_words LOOP
        v_words[1 + floor(random() * cardinality(v_words))::int] := pg_temp.datagen_ko_pick(%(common)s);
    END LOOP;
    RETURN array_to_string(v_words, ' ');
END
$f$;
"""

GENERATE_KOREAN = """
SELECT setseed(%(seed)s);

INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT 'https://letters.example.com/ko/' || g,
       '자기소개서 ' || g,
       CASE WHEN random() < 0.8 THEN pg_temp.datagen_ko_pick(%(companies)s) END,
       CASE WHEN random() < 0.8 THEN pg_temp.datagen_ko_pick(%(roles)s) END,
       pg_temp.datagen_ko_letter(10 + floor(random() * 5)::int)
FROM generate_series(1, %(letters)s) AS g;

-- Planted copies of a fraction of the originals, the copy's URL naming its kind: URL variants (exact key),
-- near-duplicates (a year changed '5년' -> '6년', a word changed, a sentence added, a sentence removed) and rewrites
-- (a quarter of the words replaced: the review band).
WITH picked AS (
    SELECT l.*, random() AS r FROM mlops.cover_letter_samples AS l
    WHERE l.id <= %(letters)s AND random() < %(dup_fraction)s
),
kinded AS (
    SELECT p.*, CASE WHEN p.r < 0.3 THEN 'url' WHEN p.r < 0.45 THEN 'number' WHEN p.r < 0.6 THEN 'word'
                     WHEN p.r < 0.75 THEN 'add' WHEN p.r < 0.9 THEN 'remove' ELSE 'rewrite' END AS kind
    FROM picked AS p
)
INSERT INTO mlops.cover_letter_samples (url, title, company, position, content)
SELECT CASE WHEN k.kind = 'url' THEN k.url || '?utm_source=crawler&ref=feed' ELSE k.url || '/copy-' || k.kind END,
       k.title, NULL, k.position,
       CASE WHEN k.kind = 'url' THEN k.content
            WHEN k.kind = 'rewrite' THEN pg_temp.datagen_ko_edit(k.content, 'word', %(rewrite_words)s)
            ELSE pg_temp.datagen_ko_edit(k.content, k.kind) END
FROM kinded AS k
ORDER BY k.id;

CREATE TEMP TABLE IF NOT EXISTS planted_pairs (target text, original bigint, copy bigint, kind text);
INSERT INTO planted_pairs
SELECT 'mlops.cover_letter_samples', o.id, c.id,
       CASE WHEN c.url LIKE '%%utm_source%%' THEN 'url' ELSE substr(c.url, strpos(c.url, '/copy-') + 6) END
FROM mlops.cover_letter_samples AS c
INNER JOIN mlops.cover_letter_samples AS o ON o.title = c.title AND o.id <= %(letters)s
WHERE c.id > %(letters)s;

ANALYZE mlops.cover_letter_samples;
"""


def _korean_params() -> dict[str, object]:
    return {
        "templates": KO_TEMPLATES,
        "ntemplates": len(KO_TEMPLATES),
        "bullets": KO_BULLETS,
        "open": KO_BOILERPLATE[0],
        "close": KO_BOILERPLATE[1],
        "companies": KO_COMPANIES,
        "ncompanies": len(KO_COMPANIES),
        "roles": KO_ROLES,
        "objects": KO_OBJECTS,
        "verbs": KO_VERBS,
        "tech": KO_TECH,
        "metrics": KO_METRICS,
        "kpis": KO_KPIS,
        "skills": KO_SKILLS,
        "teams": KO_TEAMS,
        "majors": KO_MAJORS,
        "domains": KO_DOMAINS,
        "projects": KO_PROJECTS,
        "common": KO_COMMON,
    }


def generate_korean(
    conn: psycopg.Connection, *, letters: int, dup_fraction: float = 0.1, rewrite_words: int = 40, seed: float = 0.42
) -> dict[str, int]:
    """Insert Korean cover letters with planted copies into mlops.cover_letter_samples (planted_pairs records them,
    kind url/number/word/add/remove/rewrite); the same seed gives the same rows in any database."""
    conn.execute(_inline(SETUP_KOREAN, _korean_params()))
    with conn.transaction():
        conn.execute(
            _inline(
                GENERATE_KOREAN,
                {
                    **_korean_params(),
                    "seed": seed,
                    "letters": letters,
                    "dup_fraction": dup_fraction,
                    "rewrite_words": rewrite_words,
                },
            )
        )
    rows = conn.execute("SELECT count(*) FROM mlops.cover_letter_samples").fetchone()[0]
    planted = conn.execute("SELECT count(*) FROM planted_pairs").fetchone()[0]
    return {"cover_letter_samples": rows, "planted_pairs": planted}


# ---------------------------------------------------------------- short names
#
# Band, artist and company names of one to three words, Latin ('Metallica'-like made-up words, 'Iron Wolves',
# 'The Velvet Saints', 'Norava Labs') and Korean ('누리별', '한빛전자', '카온 엔터테인먼트', '블랙 누리 스튜디오'),
# and planted variants of some: one-character typos (drop, insert, substitute, transpose), trailing punctuation
# ('Aerosmith.'), case changes (Latin) and extra spaces.
NAME_ADJECTIVES = _split(
    """
    Black, Iron, Red, Silver, Arctic, Velvet, Electric, Golden, Royal, Crystal, Midnight, Wild, Blue, Neon, Lonely,
    Broken, Silent, Burning, Frozen, Rolling, Flying, Pink, Savage, Cosmic, Northern, Little, Big, Holy, Dark, Bright,
    Lucky, Happy, Mad, Atomic, Digital, Modern, Ancient, Hidden, Secret, Young, Pretty, Sonic, Urban, Green, White,
    Scarlet, Hollow, Gentle, Rusty, Paper, Glass, Stone, Copper, Crimson, Wicked, Sweet, Bitter, Lazy, Restless, Lost,
    Final, Eternal, Magnetic, Purple, Violet, Desert, Ocean, Thunder, Starlight, Diamond
    """
)
NAME_NOUNS = _split(
    """
    Keys, Maiden, Monkeys, Stones, Wolves, Kings, Tigers, Lions, Riders, Dreams, Hearts, Roses, Angels, Ghosts,
    Rebels, Pilots, Sisters, Brothers, Saints, Echoes, Waves, Rivers, Mountains, Machines, Robots, Rockets, Shadows,
    Lights, Horses, Foxes, Ravens, Crows, Sparrows, Owls, Bears, Sharks, Dragons, Giants, Knights, Queens, Thieves,
    Lovers, Strangers, Prophets, Pirates, Cowboys, Drifters, Hunters, Dancers, Poets, Clouds, Flowers, Bones, Mirrors,
    Engines, Satellites, Comets, Planets, Horizons, Tides, Storms, Fires, Embers, Sirens, Vandals, Outlaws, Heroes,
    Monks, Wizards, Harbors
    """
)
NAME_COMPANY_WORDS = _split(
    """
    Labs, Systems, Records, Media, Group, Studios, Partners, Holdings, Technologies, Entertainment, Networks, Capital,
    Foods, Motors, Works, Logistics, Software, Pharma, Energy, Robotics
    """
)
NAME_ENDINGS = ["", "", "ica", "ix", "on", "ara", "ers", "ium", "ex", "os", "ia", "o", "us", "ana", "eon"]
KO_NAME_SUFFIXES = _split("전자, 건설, 제약, 식품, 엔터, 소프트, 물산, 화학, 증권, 통신, 항공, 게임즈")
KO_NAME_WORDS = _split(
    """
    엔터테인먼트, 컴퍼니, 스튜디오, 레코즈, 미디어, 홀딩스, 브라더스, 테크놀로지, 그룹, 밴드, 프로젝트, 크루, 랩스,
    파트너스
    """
)
KO_NAME_ADJECTIVES = _split("블랙, 레드, 골든, 실버, 뉴, 더, 리틀, 빅, 블루, 화이트, 퍼플, 핑크, 시크릿, 로열")
NAME_VARIANT_KINDS = ("drop", "insert", "substitute", "transpose", "punct", "case", "space")


def _made_up_words(rng: random.Random, count: int) -> list[str]:
    """'Metallica'-like Latin words and '누리별'-like Korean ones, distinct."""
    latin: dict[str, None] = {}
    while len(latin) < count:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3)))) + rng.choice(NAME_ENDINGS)
        latin[word.capitalize()] = None
    korean: dict[str, None] = {}
    while len(korean) < count:
        korean["".join(rng.choice(KO_SYLLABLES) for _ in range(rng.choice((2, 3, 3, 4))))] = None
    return [*latin, *korean]


def _short_name(rng: random.Random, latin: list[str], korean: list[str]) -> str:
    """One base name: 60% Latin, 40% Korean; one word 40%, two 40%, three 20%."""
    words = rng.choices((1, 2, 3), (4, 4, 2))[0]
    pick = rng.choice
    if rng.random() < 0.6:
        if words == 1:
            return pick(latin)
        if words == 2:
            return (
                f"{pick(NAME_ADJECTIVES)} {pick(NAME_NOUNS)}"
                if rng.random() < 0.5
                else (f"{pick(latin)} {pick(NAME_COMPANY_WORDS)}")
            )
        return (
            f"The {pick(NAME_ADJECTIVES)} {pick(NAME_NOUNS)}"
            if rng.random() < 0.5
            else (f"{pick(NAME_ADJECTIVES)} {pick(latin)} {pick(NAME_COMPANY_WORDS)}")
        )
    if words == 1:
        return pick(korean) + (pick(KO_NAME_SUFFIXES) if rng.random() < 0.5 else "")
    if words == 2:
        return (
            f"{pick(korean)} {pick(KO_NAME_WORDS)}"
            if rng.random() < 0.6
            else f"{pick(KO_NAME_ADJECTIVES)} {pick(korean)}"
        )
    return f"{pick(KO_NAME_ADJECTIVES)} {pick(korean)} {pick(KO_NAME_WORDS)}"


def _is_hangul(char: str) -> bool:
    return "\uac00" <= char <= "\ud7a3"


def name_variant(rng: random.Random, name: str, kind: str) -> tuple[str, str]:
    """The name with one planted change of the kind (a one-character typo, trailing punctuation, case, spaces), and
    the kind applied: a drop from a two-letter name is an insert, a transpose without two different neighbours a
    substitute, a case change of a Korean name a space."""
    letters = [i for i, c in enumerate(name) if c != " "]
    i = rng.choice(letters)
    swaps = [j for j in letters if j + 1 < len(name) and name[j + 1] != " " and name[j] != name[j + 1]]
    if kind == "drop" and len(letters) <= 2:
        kind = "insert"
    if kind == "transpose" and not swaps:
        kind = "substitute"
    if kind == "case" and name.upper() == name.lower():
        kind = "space"

    def other(c: str) -> str:
        alphabet = KO_SYLLABLES if _is_hangul(c) else "abcdefghijklmnopqrstuvwxyz"
        new = rng.choice([a for a in alphabet if a != c.lower()])
        return new.upper() if c.isupper() else new

    if kind == "drop":
        return name[:i] + name[i + 1 :], kind
    if kind == "insert":
        return name[:i] + other(name[i]) + name[i:], kind
    if kind == "substitute":
        return name[:i] + other(name[i]) + name[i + 1 :], kind
    if kind == "transpose":
        j = rng.choice(swaps)
        return name[:j] + name[j + 1] + name[j] + name[j + 2 :], kind
    if kind == "punct":
        return name + rng.choice((".", ".", "!", ",")), kind
    if kind == "case":
        return (name.upper() if rng.random() < 0.5 and name.upper() != name else name.lower()), kind
    # a doubled space between words, else one before or after the word
    if " " in name:
        j = rng.choice([j for j, c in enumerate(name) if c == " "])
        return name[:j] + " " + name[j:], kind
    return (name + " " if rng.random() < 0.5 else " " + name), kind


def generate_names(
    conn: psycopg.Connection, target: str, *, rows: int, variant_fraction: float = 0.1, seed: int = 42
) -> dict[str, int]:
    """Create the table target (id bigint PRIMARY KEY, name text) with rows short names, a variant_fraction of
    them planted variants of others; the temp table planted_names records (original, copy, kind, script)."""
    rng = random.Random(seed)
    variants = round(rows * variant_fraction / (1 + variant_fraction))
    latin_words, korean_words = [], []
    for word in _made_up_words(rng, max(2000, rows // 4)):
        (korean_words if _is_hangul(word[0]) else latin_words).append(word)
    names: dict[str, None] = {}
    while len(names) < rows - variants:
        names[_short_name(rng, latin_words, korean_words)] = None
    base = list(names)
    planted = []
    for original in sorted(rng.sample(range(1, len(base) + 1), variants)):
        name = base[original - 1]
        korean = any(_is_hangul(c) for c in name)
        variant, kind = name_variant(
            rng, name, rng.choice([k for k in NAME_VARIANT_KINDS if not (korean and k == "case")])
        )
        planted.append((original, len(base) + 1, kind, "korean" if korean else "latin"))
        base.append(variant)
    conn.execute(f"CREATE TABLE {target} (id bigint PRIMARY KEY, name text NOT NULL)")
    conn.execute("CREATE TEMP TABLE planted_names (original bigint, copy bigint, kind text, script text)")
    with conn.cursor().copy(f"COPY {target} (id, name) FROM STDIN") as copy:
        for i, name in enumerate(base, 1):
            copy.write_row((i, name))
    with conn.cursor().copy("COPY planted_names FROM STDIN") as copy:
        for row in planted:
            copy.write_row(row)
    conn.execute(f"ANALYZE {target}")
    return {"rows": len(base), "planted_variants": len(planted)}
