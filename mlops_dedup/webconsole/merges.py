"""/merges: the merge history (filterable, paginated), one merge's detail, undo of a merge and of a whole run (each
after a confirmation page)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import psycopg
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from psycopg.rows import dict_row

from mlops_dedup import api
from mlops_dedup.webconsole.app import BIGINT_MAX, db, error_detail, flash_error, log_action, query, text_arg

bp = Blueprint("merges", __name__)
PAGE_SIZE = 50

LIST_SQL = """
SELECT m.merge_id, m.run_id, m.target::text AS target, m.survivor_key, m.loser_keys, m.reason, m.score,
    m.soft_deleted, m.merged_at, m.merged_by, m.undone_at, m.undone_by,
    (SELECT count(*) FROM mlops."merges" AS c WHERE c.parent_merge_id = m.merge_id) AS conflict_merges
FROM mlops."merges" AS m
WHERE m.parent_merge_id IS NULL
    AND (%(target)s::text IS NULL OR m.target::text = %(target)s)
    AND (%(run)s::bigint IS NULL OR m.run_id = %(run)s)
    AND (%(reason)s::text IS NULL OR strpos(lower(m.reason), lower(%(reason)s)) > 0)
    AND (%(since)s::date IS NULL OR m.merged_at >= %(since)s::date)
    AND (%(until)s::date IS NULL OR m.merged_at < %(until)s::date)
ORDER BY m.merge_id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
MERGE_SQL = """
SELECT m.merge_id, m.parent_merge_id, m.run_id, m.target::text AS target, m.key_type, m.survivor_key, m.loser_keys,
    m.reason, m.score, m.soft_deleted, m.filled, m.filled_text, m.fill_skipped, m.conflicts, m.combined, m.merged_at,
    m.merged_by, m.undone_at, m.undone_by
FROM mlops."merges" AS m WHERE m.merge_id = %s
"""
MOVES_SQL = """
SELECT v.merge_id, v.referencing_table::text AS referencing_table, v.fk_name, v.row_key, v.loser_key, v.moved_to,
    v.moved_from, v.loser_key
FROM mlops.merge_moves AS v WHERE v.merge_id = ANY (%s) ORDER BY v.referencing_table::text, v.fk_name, v.merge_id
"""
ARCHIVE_SQL = """
SELECT a.archive_id, a.merge_id, a.target::text AS target, a.row_key, a.row_data, a.row_text,
    a.source_table::text AS source_table, a.archived_at
FROM mlops.merge_archive AS a WHERE a.merge_id = ANY (%s) ORDER BY a.merge_id, a.archive_id
"""


def _filters() -> dict[str, Any]:
    """The list's filters from the query string; a malformed value is flashed and ignored."""
    args = request.args
    filters: dict[str, Any] = {
        "target": text_arg("target"),
        "run": None,
        "reason": text_arg("reason"),
        "since": None,
        "until": None,
    }
    if args.get("run"):
        try:
            if not (args["run"].isascii() and args["run"].isdigit()):  # int() also reads full-width digits and '1_0'
                raise ValueError
            filters["run"] = int(args["run"])
            if not 0 < filters["run"] <= BIGINT_MAX:
                raise ValueError
        except ValueError:
            filters["run"] = None
            flash(f"run {args['run']!r} is not a run id; filter ignored", "error")
    for name in ("since", "until"):
        if args.get(name):
            try:
                filters[name] = date.fromisoformat(args[name])
            except ValueError:
                flash(f"{name} {args[name]!r} is not a date (YYYY-MM-DD); filter ignored", "error")
    return filters


@bp.get("/merges")
def page() -> str:
    """Top-level merges, newest first, PAGE_SIZE a page."""
    filters = _filters()
    page_number = max(request.args.get("page", 1, type=int), 1)
    until = filters["until"] + timedelta(days=1) if filters["until"] else None  # the until day included
    rows = query(
        LIST_SQL,
        {**filters, "until": until, "limit": PAGE_SIZE + 1, "offset": (page_number - 1) * PAGE_SIZE},
    )
    shown = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template(
        "merges.html",
        merges=rows[:PAGE_SIZE],
        has_next=len(rows) > PAGE_SIZE,
        page=page_number,
        filters=filters,
        args=shown,
        targets=[r["target"] for r in query('SELECT DISTINCT target::text AS target FROM mlops."merges" ORDER BY 1')],
    )


def _merge_or_404(merge_id: int) -> dict[str, Any]:
    rows = query(MERGE_SQL, (merge_id,)) if merge_id <= BIGINT_MAX else []
    if not rows:
        abort(404, f"merge {merge_id} does not exist (or this role may not read its table)")
    return rows[0]


def _current_rows(target: str, keys: list[str]) -> list[dict[str, Any]]:
    """Each key with the row that holds it today ({} when the row is gone)."""
    with db().cursor(row_factory=dict_row) as cur:
        out = []
        for key in keys:
            try:
                with db().transaction():
                    row = api.fetch_by_key(cur, target, key)
            except psycopg.Error as exc:
                row = {"error": error_detail(exc)["message"]}
            out.append({"key": key, "row": row})
        return out


@bp.get("/merges/<int:merge_id>")
def detail(merge_id: int) -> str:
    """One merge: survivor and losers, moved references per referencing table, conflict merges, filled fields,
    archived rows."""
    merge = _merge_or_404(merge_id)
    children = query(MERGE_SQL.replace("m.merge_id = %s", "m.parent_merge_id = %s ORDER BY m.merge_id"), (merge_id,))
    ids = [merge_id, *(c["merge_id"] for c in children)]
    moves = query(MOVES_SQL, (ids,))
    moves_by_table: dict[str, list[dict[str, Any]]] = {}
    for move in moves:
        moves_by_table.setdefault(move["referencing_table"], []).append(move)
    return render_template(
        "merge_detail.html",
        merge=merge,
        children=children,
        moves_by_table=moves_by_table,
        archive=query(ARCHIVE_SQL, (ids,)),
        survivor=_current_rows(merge["target"], [merge["survivor_key"]])[0],
        losers=_current_rows(merge["target"], list(merge["loser_keys"] or [])),
        undone=request.args.get("undone") == "1",
    )


@bp.route("/merges/<int:merge_id>/undo", methods=["GET", "POST"])
def undo(merge_id: int) -> Any:
    """GET: what undoing would put back, and a confirm button. POST: mlops.unmerge, logged as undo_merge."""
    merge = _merge_or_404(merge_id)
    if request.method == "GET":
        return render_template("undo_merge.html", merge=merge)
    try:
        db().execute("SELECT mlops.unmerge(%s::bigint)", (merge_id,))
    except psycopg.Error as exc:
        log_action("undo_merge", False, merge["target"], merge_id, error_detail(exc))
        flash_error(f"merge {merge_id} not undone", exc)
        return redirect(url_for("merges.detail", merge_id=merge_id))
    log_action(
        "undo_merge",
        True,
        merge["target"],
        merge_id,
        {"survivor_key": merge["survivor_key"], "loser_keys": merge["loser_keys"]},
    )
    flash(
        f"Merge {merge_id} undone: {', '.join(merge['loser_keys'])} back beside {merge['survivor_key']} "
        f"in {merge['target']}.",
        "success",
    )
    return redirect(url_for("merges.detail", merge_id=merge_id, undone=1))


@bp.route("/runs/<int:run_id>/undo", methods=["GET", "POST"])
def undo_run(run_id: int) -> Any:
    """GET: the run's merges still in place, and a confirm button. POST: mlops.unmerge_run (all or nothing), logged
    as undo_run; the merges it undid are shown."""
    runs = (
        query(
            "SELECT run_id, target::text AS target, status, started_at, finished_at, rows_merged, dry_run"
            " FROM mlops.dedup_runs WHERE run_id = %s",
            (run_id,),
        )
        if run_id <= BIGINT_MAX
        else []
    )
    if not runs:
        abort(404, f"run {run_id} does not exist")
    run = runs[0]
    if request.method == "GET":
        merges = query(
            'SELECT merge_id, survivor_key, loser_keys, reason FROM mlops."merges"'
            " WHERE run_id = %s AND parent_merge_id IS NULL AND undone_at IS NULL ORDER BY merge_id",
            (run_id,),
        )
        return render_template("undo_run.html", run=run, merges=merges)
    try:
        with db().transaction():
            undone = query(
                "SELECT u.merge_id, u.target::text AS target, u.survivor_key, u.loser_keys"
                " FROM mlops.unmerge_run(%s::bigint) AS u",
                (run_id,),
            )
    except psycopg.Error as exc:
        log_action("undo_run", False, run["target"], run_id, error_detail(exc))
        flash_error(f"run {run_id} not undone", exc)
        return redirect(url_for("merges.undo_run", run_id=run_id))
    log_action("undo_run", True, run["target"], run_id, {"merges_undone": [u["merge_id"] for u in undone]})
    return render_template("undo_run_done.html", run=run, undone=undone)
