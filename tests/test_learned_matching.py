"""Learned matching (issue 12): rules with per-field comparisons, a Fellegi-Sunter model trained in the database
(mlops.train_rule), review decisions as labels, explanations that add up, and clear errors for bad comparisons.
The data is generated here: people with planted duplicates (typos, missing fields, swapped day and month)."""

from __future__ import annotations

import datetime
import itertools
import random
import uuid

import psycopg
import pytest

PEOPLE = "public.people"
COMPARISONS = ["t.given_name", "t.surname", "t.birth_date", "t.postcode", "t.city", "t.phone"]
GIVEN = [
    "james",
    "mary",
    "robert",
    "patricia",
    "john",
    "jennifer",
    "michael",
    "linda",
    "david",
    "elizabeth",
    "william",
    "barbara",
    "richard",
    "susan",
    "joseph",
    "jessica",
    "thomas",
    "sarah",
    "charles",
    "karen",
    "minjun",
    "seoyeon",
    "jiho",
    "haeun",
    "doyun",
    "jiwoo",
]
SURNAMES = [
    "smith",
    "johnson",
    "williams",
    "brown",
    "jones",
    "garcia",
    "miller",
    "davis",
    "rodriguez",
    "martinez",
    "hernandez",
    "lopez",
    "gonzalez",
    "wilson",
    "anderson",
    "thomas",
    "taylor",
    "moore",
    "jackson",
    "martin",
    "kim",
    "lee",
    "park",
    "choi",
    "jung",
    "kang",
    "cho",
    "yoon",
    "jang",
    "lim",
]
CITIES = [
    "springfield",
    "riverside",
    "franklin",
    "greenville",
    "bristol",
    "clinton",
    "fairview",
    "salem",
    "madison",
    "georgetown",
    "seoul",
    "busan",
    "incheon",
    "daegu",
]


def typo(rng: random.Random, text: str) -> str:
    """One edit: a substitution, deletion, insertion or swap of neighbours."""
    i = rng.randrange(len(text))
    kind = rng.choice("sdit")
    if kind == "s":
        return text[:i] + rng.choice("abcdefghijklmnoprstuy") + text[i + 1 :]
    if kind == "d" and len(text) > 3:
        return text[:i] + text[i + 1 :]
    if kind == "t" and i + 1 < len(text):
        return text[:i] + text[i + 1] + text[i] + text[i + 2 :]
    return text[:i] + rng.choice("aeiou") + text[i:]


def digit_typo(rng: random.Random, code: str) -> str:
    """One digit replaced, or two neighbouring digits swapped; the rest (dashes) kept."""
    digits = [i for i, c in enumerate(code) if c.isdigit()]
    i = rng.choice(digits[:-1])
    chars = list(code)
    if rng.random() < 0.5 and i + 1 in digits:
        chars[i], chars[i + 1] = chars[i + 1], chars[i]
    else:
        chars[i] = rng.choice([d for d in "0123456789" if d != chars[i]])
    return "".join(chars)


def make_people(seed: int = 7, originals: int = 400, duplicates: int = 160) -> tuple[list[tuple], set]:
    """Rows (id, given_name, surname, birth_date, postcode, city, phone) and the true pairs (frozensets of ids)."""
    rng = random.Random(seed)
    rows: list[tuple] = []
    person: dict[int, int] = {}
    for p in range(originals):
        birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(25000))
        rows.append(
            (
                len(rows) + 1,
                rng.choice(GIVEN),
                rng.choice(SURNAMES),
                birth,
                f"{rng.randrange(1000, 9999)}",
                rng.choice(CITIES),
                f"010-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}",
            )
        )
        person[len(rows)] = p
    for _ in range(duplicates):
        source = rows[rng.randrange(originals)]
        row = list(source)
        row[0] = len(rows) + 1
        for field in rng.sample(range(1, 7), rng.choice([1, 1, 2, 2, 3])):
            change = rng.random()
            if change < 0.25:
                row[field] = None  # missing: no evidence
            elif field == 3:
                d = row[3]
                row[3] = d.replace(month=d.day, day=d.month) if d.day <= 12 else d + datetime.timedelta(days=1)
            elif field in (4, 6):
                row[field] = digit_typo(rng, row[field])
            else:
                row[field] = typo(rng, row[field])
        rows.append(tuple(row))
        person[len(rows)] = person[source[0]]
    by_person: dict[int, list[int]] = {}
    for row_id, p in person.items():
        by_person.setdefault(p, []).append(row_id)
    truth = {frozenset(pair) for ids in by_person.values() for pair in itertools.combinations(ids, 2)}
    return rows, truth


def load_people(conn: psycopg.Connection, rows: list[tuple], key: str = "bigint") -> None:
    conn.execute(
        f"CREATE TABLE public.people (id {key} PRIMARY KEY, given_name text, surname text, birth_date date,"
        " postcode text, city text, phone text)"
    )
    with conn.cursor().copy("COPY public.people FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def add_rule(conn: psycopg.Connection, comparisons: list[str] = COMPARISONS, **settings: float) -> None:
    columns = ", ".join(["target", "comparisons", *settings])
    values = ", ".join(["%s", "%s", *["%s"] * len(settings)])
    conn.execute(
        f"INSERT INTO mlops.dedup_rules ({columns}) VALUES ({values})", [PEOPLE, comparisons, *settings.values()]
    )


def found_pairs(conn: psycopg.Connection) -> set:
    """Every pair within each cluster find_duplicates returns (survivor and members)."""
    clusters: dict[int, set] = {}
    for cluster, survivor, member in conn.execute(
        "SELECT cluster_id, survivor_key, member_key FROM mlops.find_duplicates(%s)", (PEOPLE,)
    ):
        clusters.setdefault(cluster, set()).update({int(survivor), int(member)})
    return {frozenset(p) for ids in clusters.values() for p in itertools.combinations(sorted(ids), 2)}


@pytest.fixture
def people(conn: psycopg.Connection) -> tuple[psycopg.Connection, set]:
    rows, truth = make_people()
    load_people(conn, rows)
    add_rule(conn)
    return conn, truth


def test_a_rule_listing_columns_finds_the_planted_duplicates(people: tuple[psycopg.Connection, set]) -> None:
    conn, truth = people
    (version, live, candidates, labelled) = conn.execute(
        "SELECT version, live_rows, candidate_pairs, labelled_matches FROM mlops.train_rule(%s)", (PEOPLE,)
    ).fetchone()
    assert (version, live, labelled) == (1, 560, 0)
    # blocking derived from the comparisons: far fewer pairs than all of them, and (below) nearly all true ones
    assert candidates < 560 * 559 / 2 / 20
    found = found_pairs(conn)
    hits = len(found & truth)
    precision, recall = hits / len(found), hits / len(truth)
    assert precision >= 0.98, (precision, recall)
    assert recall >= 0.98, (precision, recall)
    reasons = {r for (r,) in conn.execute("SELECT DISTINCT reason FROM mlops.find_duplicates(%s)", (PEOPLE,))}
    assert reasons == {"model"}


def test_training_is_deterministic_for_a_seed(people: tuple[psycopg.Connection, set]) -> None:
    conn, _ = people
    levels = (
        "SELECT comparison, level, label, m, u FROM mlops.dedup_model_levels WHERE model_id = %s"
        " ORDER BY comparison, level"
    )
    first = conn.execute("SELECT model_id, prior FROM mlops.train_rule(%s, 3)", (PEOPLE,)).fetchone()
    second = conn.execute("SELECT model_id, prior FROM mlops.train_rule(%s, 3)", (PEOPLE,)).fetchone()
    other = conn.execute("SELECT model_id, prior FROM mlops.train_rule(%s, 4)", (PEOPLE,)).fetchone()
    assert first[0] != second[0]
    assert first[1] == second[1]
    assert conn.execute(levels, (first[0],)).fetchall() == conn.execute(levels, (second[0],)).fetchall()
    # another seed draws other random pairs: other u estimates
    assert conn.execute(levels, (first[0],)).fetchall() != conn.execute(levels, (other[0],)).fetchall()
    versions = conn.execute("SELECT array_agg(version ORDER BY version) FROM mlops.dedup_models").fetchone()[0]
    assert versions == [1, 2, 3]


def test_explanations_add_up_to_the_score(people: tuple[psycopg.Connection, set]) -> None:
    conn, _ = people
    conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    members = conn.execute("SELECT survivor_id, member_id, score FROM mlops.find_duplicates(%s)", (PEOPLE,)).fetchall()
    assert members
    for survivor, member, score in members[:25]:
        rows = conn.execute(
            "SELECT comparison, level, weight, match_weight, match_probability, model_version"
            " FROM mlops.explain_match(%s, %s::bigint, %s::bigint)",
            (PEOPLE, survivor, member),
        ).fetchall()
        assert [r[0] for r in rows] == list(range(len(COMPARISONS) + 1))  # the prior, then each comparison
        total = sum(r[2] for r in rows)
        assert rows[0][3] == pytest.approx(total)
        assert rows[0][4] == pytest.approx(1 / (1 + 2**-total))
        assert rows[0][4] == pytest.approx(score, abs=1e-6)
        assert rows[0][5] == 1


def test_a_missing_value_is_no_evidence(conn: psycopg.Connection) -> None:
    rows, _ = make_people(originals=300, duplicates=100)
    base = rows[10]
    twins = [
        (9001, *base[1:]),
        (9002, base[1], base[2], base[3], base[4], None, base[6]),  # no city
        (9003, base[1], base[2], base[3], base[4], "   ", base[6]),  # a blank city: no evidence either
    ]
    load_people(conn, rows + twins)
    add_rule(conn)
    conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    explained = {
        other: conn.execute(
            "SELECT level, weight, label, match_weight FROM mlops.explain_match(%s, 9001, %s) WHERE comparison = 5",
            (PEOPLE, other),
        ).fetchone()
        for other in (9002, 9003)
    }
    for level, weight, label, _ in explained.values():
        assert (level, weight) == (None, 0)
        assert label.startswith("no evidence")
    with_city = conn.execute(
        "SELECT weight, match_weight FROM mlops.explain_match(%s, 9001, %s) WHERE comparison = 5",
        (PEOPLE, base[0]),
    ).fetchone()
    # the same pair minus the agreeing city: the total drops by exactly that city's weight, not more
    assert with_city[0] > 0
    assert explained[9002][3] == pytest.approx(with_city[1] - with_city[0])


def test_day_and_month_swapped_is_its_own_level(conn: psycopg.Connection) -> None:
    rows, _ = make_people()
    base = rows[0]
    birth = datetime.date(1985, 3, 11)
    twins = [
        (9001, *base[1:3], birth, *base[4:]),
        (9002, *base[1:3], datetime.date(1985, 11, 3), *base[4:]),
        (9003, *base[1:3], datetime.date(1985, 3, 25), *base[4:]),
    ]
    load_people(conn, rows + twins)
    add_rule(conn)
    conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    labels = {
        other: conn.execute(
            "SELECT label FROM mlops.explain_match(%s, 9001, %s) WHERE comparison = 3", (PEOPLE, other)
        ).fetchone()[0]
        for other in (9002, 9003)
    }
    assert labels == {9002: "day and month swapped or one digit off", 9003: "within 31 days"}
    kinds = conn.execute("SELECT kinds FROM mlops.dedup_models").fetchone()[0]
    # date type; text of digits (postcode, phone) is a code; names and cities are text
    assert kinds == ["text", "text", "date", "code", "text", "code"]


def test_labels_move_the_model_their_way(people: tuple[psycopg.Connection, set]) -> None:
    """Review decisions are labels: pairs of a pattern judged distinct lower its probability at the next training,
    judged the same raise it. The labels are those review_candidate records, on pairs merge_duplicates queued."""
    conn, _ = people
    # a pair of different people sharing surname and city: a pattern with some evidence both ways
    conn.execute(
        "INSERT INTO public.people VALUES (9001, 'anna', 'kowalski', '1970-01-01', '1111', 'salem', '010-1111-1111'),"
        " (9002, 'anne', 'kowalski', '1970-01-01', '2222', 'salem', '010-2222-2222'),"
        " (9003, 'ann', 'kowalsky', '1971-01-01', '1111', 'salem', '010-3333-3333')"
    )
    # (the same rows and seed each time: the labels are all that changes between trainings)
    model_id = conn.execute("SELECT model_id FROM mlops.train_rule(%s)", (PEOPLE,)).fetchone()[0]

    def probability(a: int, b: int) -> float:
        return conn.execute(
            "SELECT match_probability FROM mlops.explain_match(%s, %s, %s) LIMIT 1", (PEOPLE, a, b)
        ).fetchone()[0]

    def label(a: int, b: int, status: str, model: int) -> None:
        levels = conn.execute(
            "SELECT array_agg(level ORDER BY comparison) FROM mlops.explain_match(%s, %s, %s) WHERE comparison > 0",
            (PEOPLE, a, b),
        ).fetchone()[0]
        base = 20000 if status == "distinct" else 30000
        for n in range(5):  # five decisions on pairs like this one
            left = base + 2 * n
            (candidate,) = conn.execute(
                "INSERT INTO mlops.duplicate_candidates (target, left_id, right_id, left_key, right_key, score,"
                " reason, levels, model_id) VALUES (%s, %s, %s, %s, %s, 0.5, 'model', %s, %s) RETURNING candidate_id",
                (PEOPLE, left, left + 1, str(left), str(left + 1), levels, model),
            ).fetchone()
            # decided as a reviewer decides (the trigger stamps decided_by)
            conn.execute(
                "UPDATE mlops.duplicate_candidates SET status = %s, decided_at = now() WHERE candidate_id = %s",
                (status, candidate),
            )

    # pairs like 9001-9002 judged distinct: at once (detection weighs decisions on pairs of the same levels), and
    # after training again
    before_distinct = probability(9001, 9002)
    label(9001, 9002, "distinct", model_id)
    assert probability(9001, 9002) < before_distinct
    summary = conn.execute(
        "SELECT model_id, labelled_matches, labelled_distinct FROM mlops.train_rule(%s)", (PEOPLE,)
    ).fetchone()
    assert summary[1:] == (0, 5)
    assert probability(9001, 9002) < before_distinct
    # pairs like 9001-9003 judged the same: their score rises, and training counts them as matches
    before_same = probability(9001, 9003)
    label(9001, 9003, "merged", summary[0])
    assert probability(9001, 9003) > before_same
    assert conn.execute(
        "SELECT labelled_matches, labelled_distinct FROM mlops.train_rule(%s)", (PEOPLE,)
    ).fetchone() == (5, 5)
    assert probability(9001, 9003) > before_same


def test_a_first_run_trains_and_queues_labelled_pairs(conn: psycopg.Connection) -> None:
    # enough rows for a run to keep the model it trains (a small table's is estimated for each run)
    load_people(conn, make_people(originals=900, duplicates=300)[0])
    add_rule(conn)
    conn.execute(
        "UPDATE mlops.dedup_rules SET threshold = 0.99999, review_threshold = 0.01 WHERE target = %s::regclass",
        (PEOPLE,),
    )
    conn.execute("CALL mlops.merge_duplicates(%s)", (PEOPLE,))
    (models,) = conn.execute("SELECT count(*) FROM mlops.dedup_models").fetchone()
    assert models == 1  # trained by the first run, reused by the next
    conn.execute("CALL mlops.merge_duplicates(%s)", (PEOPLE,))
    assert conn.execute("SELECT count(*) FROM mlops.dedup_models").fetchone()[0] == 1
    queue = conn.execute(
        "SELECT q.score, q.uncertainty, q.position, q.levels, c.model_id FROM mlops.review_queue AS q"
        " JOIN mlops.duplicate_candidates AS c USING (candidate_id) WHERE q.target = %s::regclass ORDER BY q.position",
        (PEOPLE,),
    ).fetchall()
    assert queue
    assert all(len(levels) == len(COMPARISONS) and model for _, _, _, levels, model in queue)
    # most uncertain first
    assert [u for _, u, *_ in queue] == sorted((u for _, u, *_ in queue), reverse=True)
    assert [p for _, _, p, *_ in queue] == list(range(1, len(queue) + 1))
    merged = conn.execute("SELECT count(*) FROM mlops.merges WHERE target = %s::regclass", (PEOPLE,)).fetchone()[0]
    assert merged > 0
    # a reviewer's merge, undone: the pair is pending again, and no label
    (candidate,) = conn.execute(
        "SELECT candidate_id FROM mlops.review_queue WHERE target = %s::regclass AND position = 1", (PEOPLE,)
    ).fetchone()
    (merge_id,) = conn.execute("SELECT mlops.review_candidate(%s, 'merge')", (candidate,)).fetchone()
    assert conn.execute("SELECT labelled_matches FROM mlops.train_rule(%s)", (PEOPLE,)).fetchone() == (1,)
    conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
    assert conn.execute(
        "SELECT status, decided_at FROM mlops.duplicate_candidates WHERE candidate_id = %s", (candidate,)
    ).fetchone() == ("pending", None)
    assert conn.execute("SELECT labelled_matches FROM mlops.train_rule(%s)", (PEOPLE,)).fetchone() == (0,)


@pytest.mark.parametrize(
    ("comparisons", "sqlstate", "message"),
    [
        ([], "22023", "comparisons is empty"),
        (["t.surname", "  "], "22023", r"comparisons\[2\] is empty"),
        (["t.surname", None], "22023", r"comparisons\[2\] is empty"),
        (["t.surname", "t.no_such_column"], "22023", r"comparisons\[2\] does not compile: column t.no_such_column"),
        (["t.surname", "lower(t.city"], "22023", r"comparisons\[2\] does not compile"),
        (["t.surname", "t.city; DROP TABLE public.people"], "22023", r'comparisons\[2\] contains ";"'),
        ([f"t.surname || '{i}'" for i in range(17)], "54000", "17 comparisons, at most 16"),
    ],
)
def test_bad_comparisons_are_refused_when_the_rule_is_written(
    conn: psycopg.Connection, comparisons: list, sqlstate: str, message: str
) -> None:
    load_people(conn, make_people(originals=5, duplicates=0)[0])
    with pytest.raises(psycopg.Error, match=message) as raised:
        add_rule(conn, comparisons)
    assert raised.value.sqlstate == sqlstate
    assert conn.execute("SELECT count(*) FROM mlops.dedup_rules WHERE target = %s::regclass", (PEOPLE,)).fetchone() == (
        0,
    )


def test_comparisons_beside_a_key_or_text_are_refused(conn: psycopg.Connection) -> None:
    load_people(conn, make_people(originals=5, duplicates=0)[0])
    for column in ("exact_key", "similar_text"):
        with pytest.raises(psycopg.errors.InvalidParameterValue, match=f"comparisons and {column} cannot be combined"):
            conn.execute(
                f"INSERT INTO mlops.dedup_rules (target, comparisons, {column}) VALUES (%s, %s, 't.phone')",
                (PEOPLE, COMPARISONS),
            )


def test_train_rule_errors(conn: psycopg.Connection) -> None:
    load_people(conn, make_people(originals=5, duplicates=0)[0])
    with pytest.raises(psycopg.errors.UndefinedObject):
        conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    conn.execute("INSERT INTO mlops.dedup_rules (target, similar_text) VALUES (%s, 't.surname')", (PEOPLE,))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="has no comparisons"):
        conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    with pytest.raises(psycopg.errors.InvalidParameterValue, match="has no comparisons"):
        conn.execute("SELECT * FROM mlops.explain_match(%s, 1, 2)", (PEOPLE,))
    conn.execute(
        "UPDATE mlops.dedup_rules SET similar_text = NULL, comparisons = %s WHERE target = %s::regclass",
        (COMPARISONS, PEOPLE),
    )
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        conn.execute("SELECT mlops.train_rule(%s, NULL)", (PEOPLE,))
    with pytest.raises(psycopg.errors.NoDataFound, match=r"no row of public\.people has key 999"):
        conn.execute("SELECT * FROM mlops.explain_match(%s, 1, 999)", (PEOPLE,))


def test_a_changed_rule_is_scored_by_a_new_model(people: tuple[psycopg.Connection, set]) -> None:
    conn, _ = people
    conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    conn.execute("UPDATE mlops.dedup_rules SET comparisons = %s WHERE target = %s::regclass", (COMPARISONS[:4], PEOPLE))
    # the stored model was trained for six comparisons: it is not used for four
    version = conn.execute("SELECT model_version FROM mlops.explain_match(%s, 1, 2) LIMIT 1", (PEOPLE,)).fetchone()[0]
    assert version is None
    assert conn.execute("SELECT version FROM mlops.train_rule(%s)", (PEOPLE,)).fetchone() == (2,)
    types = conn.execute(
        "SELECT comparison_types::text[] FROM mlops.dedup_rules WHERE target = %s::regclass", (PEOPLE,)
    ).fetchone()[0]
    assert types == ["text", "text", "date", "text"]


def test_any_key_type_and_writer_settings(conn: psycopg.Connection) -> None:
    """A uuid key; comparison values written in one spelling whatever the session's DateStyle and TimeZone."""
    rows, truth = make_people(originals=200, duplicates=60)
    ids = {row[0]: uuid.UUID(int=row[0]) for row in rows}
    load_people(conn, [(ids[r[0]], *r[1:]) for r in rows], key="uuid")
    conn.execute("ALTER TABLE public.people ADD COLUMN seen timestamptz DEFAULT '2024-05-06 07:08:09+00'")
    add_rule(conn, [*COMPARISONS, "t.seen"])
    conn.execute("SET datestyle = 'SQL, DMY'")
    conn.execute("SET timezone = 'Asia/Seoul'")
    conn.execute("SELECT mlops.train_rule(%s)", (PEOPLE,))
    back = {str(v): k for k, v in ids.items()}
    clusters: dict[int, set] = {}
    for cluster, survivor, member in conn.execute(
        "SELECT cluster_id, survivor_key, member_key FROM mlops.find_duplicates(%s)", (PEOPLE,)
    ):
        clusters.setdefault(cluster, set()).update({back[survivor], back[member]})
    found = {frozenset(p) for c in clusters.values() for p in itertools.combinations(sorted(c), 2)}
    hits = len(found & truth)
    assert hits / len(found) >= 0.98
    assert hits / len(truth) >= 0.95
    values = conn.execute(
        "SELECT left_value FROM mlops.explain_match(%s, %s::uuid, %s::uuid) WHERE comparison IN (3, 7)"
        " ORDER BY comparison",
        (PEOPLE, ids[1], ids[2]),
    ).fetchall()
    assert values[0][0] == rows[0][3].isoformat()
    assert values[1][0] == "2024-05-06 07:08:09.000000"


def test_labelled_probability_is_the_beta_posterior_mean(conn: psycopg.Connection) -> None:
    rows = conn.execute(
        "SELECT mlops.linkage_labelled_probability(p, m, d) FROM (VALUES (0.3::float8, 5::bigint, 0::bigint),"
        " (0.3, 0, 5), (0.3, 0, 0), (0.99, 0, 1), (1e-12, 100, 0)) AS x (p, m, d)"
    ).fetchall()
    assert [round(r[0], 4) for r in rows] == [
        round((5 + 1.2) / 9, 4),
        round(1.2 / 9, 4),
        0.3,
        round(3.96 / 5, 4),
        round(100 / 104, 4),
    ]


def test_labels_and_models_of_roles_without_the_rights_are_ignored(people: tuple[psycopg.Connection, set], dsn: str):
    """A role that may not merge the table cannot steer its model: decisions it queued or made are not labels, and
    it cannot write a model (row-level security), however it gets into the review queue."""
    conn, _ = people
    model_id = conn.execute("SELECT model_id FROM mlops.train_rule(%s)", (PEOPLE,)).fetchone()[0]
    conn.execute(
        "INSERT INTO public.people VALUES (9001, 'anna', 'kowalski', '1970-01-01', '1111', 'salem',"
        " '010-1111-1111'), (9002, 'anna', 'nakamura', '1970-01-01', '2222', 'seoul', '010-2222-2222')"
    )
    role = f"mallory_{uuid.uuid4().hex[:8]}"
    conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn.execute("SELECT count(*) FROM mlops.grant_usage(%s)", (role,))
        conn.execute(f"GRANT SELECT ON public.people TO {role}")

        def probability() -> float:
            return conn.execute(
                "SELECT match_probability FROM mlops.explain_match(%s, 9001, 9002) LIMIT 1", (PEOPLE,)
            ).fetchone()[0]

        levels = conn.execute(
            "SELECT array_agg(level ORDER BY comparison) FROM mlops.explain_match(%s, 9001, 9002) WHERE comparison > 0",
            (PEOPLE,),
        ).fetchone()[0]
        before = probability()
        with psycopg.connect(dsn, user=role, autocommit=True) as forger:
            for n in range(20):
                (candidate,) = forger.execute(
                    "INSERT INTO mlops.duplicate_candidates (target, left_id, right_id, left_key, right_key, score,"
                    " reason, levels, model_id) VALUES (%s, %s, %s, %s, %s, 0.5, 'model', %s, %s)"
                    " RETURNING candidate_id",
                    (PEOPLE, 40000 + 2 * n, 40001 + 2 * n, str(40000 + 2 * n), str(40001 + 2 * n), levels, model_id),
                ).fetchone()
                forger.execute(
                    "UPDATE mlops.duplicate_candidates SET status = 'merged', decided_at = now()"
                    " WHERE candidate_id = %s",
                    (candidate,),
                )
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                forger.execute("SELECT * FROM mlops.train_rule(%s)", (PEOPLE,))
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
                forger.execute(
                    "INSERT INTO mlops.dedup_models (target, version, fingerprint, comparisons, kinds,"
                    " prior_probability, random_pair_prior, live_rows, candidate_pairs, random_pairs, iterations,"
                    " converged, seed)"
                    " SELECT target, 99, fingerprint, comparisons, kinds, 0.9, 0.9, 1, 1, 1, 1, true, 1"
                    " FROM mlops.dedup_models WHERE model_id = %s",
                    (model_id,),
                )
        # the forged decisions are not labels: the score and the next model are as they were
        assert probability() == pytest.approx(before)
        assert conn.execute("SELECT labelled_matches FROM mlops.train_rule(%s)", (PEOPLE,)).fetchone() == (0,)
    finally:
        conn.execute("DELETE FROM mlops.duplicate_candidates WHERE queued_by = %s", (role,))
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")


def test_dates_outside_years_1_to_9999(conn: psycopg.Connection) -> None:
    conn.execute("CREATE TABLE public.people (id int PRIMARY KEY, name text, born date)")
    conn.execute(
        "INSERT INTO public.people VALUES (1, 'ann', '10000-01-01'), (2, 'ann', '10000-01-01'), (3, 'ann', 'infinity'),"
        " (4, 'ann', '0044-03-15 BC'), (5, 'ann', '0044-03-15'), (6, 'ann', '2020-01-01')"
    )
    add_rule(conn, ["t.name", "t.born"])
    conn.execute("SELECT * FROM mlops.find_duplicates(%s)", (PEOPLE,)).fetchall()
    labels = dict(
        conn.execute(
            "SELECT other, (SELECT label FROM mlops.explain_match(%s, 1, other) WHERE comparison = 2)"
            " FROM unnest(ARRAY[2, 3, 6]) AS other",
            (PEOPLE,),
        ).fetchall()
    )
    assert labels == {2: "exact", 3: "different", 6: "different"}
    assert conn.execute(
        "SELECT label FROM mlops.explain_match(%s, 4, 5) WHERE comparison = 2", (PEOPLE,)
    ).fetchone() == ("different",)
