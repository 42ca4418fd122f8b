"""/review: the pending review pairs one at a time, side by side with the match evidence; merge, distinct or skip."""

from __future__ import annotations

from typing import Any

import psycopg
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from psycopg.rows import dict_row

from mlops_dedup import api
from mlops_dedup.webconsole.app import db, error_detail, flash_error, log_action, query, text_arg

bp = Blueprint("review", __name__)

DECISIONS = {"merge": "review_merge", "distinct": "review_distinct"}


def _state() -> dict[str, Any]:
    """This session's review round: pairs decided and candidate ids skipped."""
    state = session.get("review") or {"decided": 0, "skipped": []}
    return {"decided": int(state.get("decided", 0)), "skipped": [int(i) for i in state.get("skipped", [])]}


def _save(state: dict[str, Any]) -> None:
    session["review"] = state


def evidence(target: str, left_key: str, right_key: str) -> tuple[list[dict[str, Any]], str | None]:
    """The rows of mlops.match_evidence for a pair, or ([], the error) when it cannot be computed."""
    try:
        with db().transaction():
            rows = query(
                "SELECT signal, left_value, right_value, score, outcome"
                " FROM mlops.match_evidence(%s::regclass, %s::text, %s::text)",
                (target, left_key, right_key),
            )
        return rows, None
    except psycopg.Error as exc:
        e = error_detail(exc)
        return [], f"{e['message']} (SQLSTATE {e['sqlstate']})"


def row_now(cur: psycopg.Cursor, target: str, key: str) -> tuple[dict[str, Any], str | None]:
    """The row of a pair as it lives now, and a note when it is not the queued one: a row merged since is shown
    under the key it lives under (mlops.resolve_id; a merge decision follows it too), a row gone is {}."""
    row = api.fetch_by_key(cur, target, key)
    if row:
        return row, None
    try:
        with db().transaction():
            now = cur.execute("SELECT mlops.resolve_id(%s::regclass, %s::text)::text AS k", (target, key)).fetchone()
    except psycopg.Error:
        now = None
    if now and now["k"] is not None and now["k"] != key:
        return api.fetch_by_key(
            cur, target, now["k"]
        ), f"row {key} was merged into {now['k']} since: shown as it lives now"
    return {}, f"row {key} no longer exists"


@bp.get("/review")
def page() -> str:
    """The first pending pair not skipped in this round, with progress "pair N of M"."""
    target = text_arg("target")
    state = _state()
    targets = [r["target"] for r in query("SELECT target::text FROM mlops.dedup_rules ORDER BY 1")]
    if target is not None and target not in targets:
        flash(f"{target} has no dedup rule; showing every table's pairs", "error")
        target = None
    pending = query(api.REVIEW_QUEUE_SQL, {"target": target})
    skipped = set(state["skipped"])
    remaining = [c for c in pending if c["candidate_id"] not in skipped]
    context: dict[str, Any] = {
        "target": target,
        "targets": targets,
        "pending": len(pending),
        "skipped": len([c for c in pending if c["candidate_id"] in skipped]),
        "merged": request.args.get("merged", type=int),
        "pair": None,
    }
    if remaining:
        pair = remaining[0]
        with db().cursor(row_factory=dict_row) as cur:
            (left, left_note), (right, right_note) = (
                row_now(cur, pair["target"], k) for k in (pair["left_key"], pair["right_key"])
            )
        columns = list(left or right)
        context.update(
            pair=pair,
            left=left,
            right=right,
            columns=columns,
            differing={c for c in columns if left and right and left.get(c) != right.get(c)},
            notes=[n for n in (left_note, right_note) if n],
            evidence=evidence(pair["target"], pair["left_key"], pair["right_key"]),
            number=state["decided"] + context["skipped"] + 1,
            total=state["decided"] + len(pending),
        )
    return render_template("review.html", **context)


@bp.post("/review/decide")
def decide() -> Any:
    """merge / distinct through mlops.review_candidate (logged), or skip (kept in the session); then the next pair."""
    target = request.form.get("target") or None
    decision = request.form.get("decision", "")
    candidate_id = request.form.get("candidate_id", type=int)
    back = {"target": target} if target else {}
    if candidate_id is None or decision not in ("merge", "distinct", "skip"):
        flash("Choose merge, distinct or skip for a pair.", "error")
        return redirect(url_for("review.page", **back))
    state = _state()
    if decision == "skip":
        state["skipped"].append(candidate_id)
        _save(state)
        return redirect(url_for("review.page", **back))
    pair_target = next(
        (
            r["target"]
            for r in query(
                "SELECT target::text FROM mlops.duplicate_candidates WHERE candidate_id = %s", (candidate_id,)
            )
        ),
        None,
    )
    try:
        (merge_id,) = (
            db().execute("SELECT mlops.review_candidate(%s::bigint, %s::text)", (candidate_id, decision)).fetchone()
        )
    except psycopg.Error as exc:
        log_action(DECISIONS[decision], False, pair_target, candidate_id, error_detail(exc))
        flash_error(f"pair {candidate_id} not decided", exc)
        return redirect(url_for("review.page", **back))
    log_action(DECISIONS[decision], True, pair_target, candidate_id, {"decision": decision, "merge_id": merge_id})
    state["decided"] += 1
    _save(state)
    if merge_id is not None:
        back["merged"] = merge_id
    else:
        flash(f"Pair {candidate_id} marked distinct.", "info")
    return redirect(url_for("review.page", **back))


@bp.post("/review/restart")
def restart() -> Any:
    """A new round: the skipped pairs come back, the counter starts again."""
    session.pop("review", None)
    target = request.form.get("target") or None
    return redirect(url_for("review.page", **({"target": target} if target else {})))
