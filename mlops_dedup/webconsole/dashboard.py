"""/: current totals, open alerts, and plotly charts over time per table (runs from mlops.dedup_runs, data-quality
trends from mlops.metric_snapshots)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from flask import Blueprint, render_template, request

from mlops_dedup.webconsole.app import query

bp = Blueprint("dashboard", __name__)

RUNS_SQL = """
SELECT run_id, target::text AS target, dry_run, status, started_at, finished_at, rows_merged, references_moved,
    clusters, candidates_queued, detect_ms, merge_ms, error, error_sqlstate,
    extract(epoch FROM coalesce(finished_at, clock_timestamp()) - started_at)::float8 AS seconds
FROM mlops.dedup_runs
WHERE %(days)s::integer IS NULL OR started_at > clock_timestamp() - make_interval(days => %(days)s::integer)
ORDER BY run_id
"""
RECENT_RUNS_SQL = RUNS_SQL.replace("ORDER BY run_id", "ORDER BY run_id DESC LIMIT 15")
SNAPSHOTS_SQL = """
SELECT snapshot_id, run_id, target::text AS target, taken_at, run_status, run_seconds, rows_merged, duplicate_rate,
    live_rows, soft_deleted_rows, exact_key_duplicate_groups, references_to_merged_rows, fks_without_index,
    fks_blocking_deletes, missing_fk_partitions, undeclared_references, pending_reviews, oldest_pending_review_seconds
FROM mlops.metric_snapshots
WHERE taken_at > clock_timestamp() - make_interval(days => %(days)s::integer)
ORDER BY taken_at, snapshot_id
"""
# The trends' window: a year of runs every few minutes would be a page of hundreds of thousands of points.
DEFAULT_DAYS = 30
MAX_DAYS = 3660
QUEUE_SQL = """
SELECT c.target::text AS target, count(*) AS pending,
    extract(epoch FROM clock_timestamp() - min(c.created_at))::float8 AS oldest_seconds
FROM mlops.review_queue AS c GROUP BY c.target ORDER BY 1
"""
OPEN_ALERTS_SQL = """
SELECT alert_id, kind, severity, target::text AS target, run_id, message, raised_at
FROM mlops.alerts WHERE resolved_at IS NULL
ORDER BY severity = 'critical' DESC, raised_at DESC
"""
# Data-quality metrics drawn as trends, one chart per table.
QUALITY_METRICS = (
    ("references_to_merged_rows", "references to merged rows"),
    ("exact_key_duplicate_groups", "exact-key duplicate groups"),
    ("fks_without_index", "FKs without index"),
    ("fks_blocking_deletes", "FKs blocking deletes"),
    ("missing_fk_partitions", "partitions missing an FK"),
    ("undeclared_references", "undeclared references"),
    ("soft_deleted_rows", "soft-deleted rows"),
)
STATUS_COLORS = {
    "succeeded": "#2e7d32",
    "partial": "#ef6c00",
    "failed": "#c62828",
    "cancelled": "#6a1b9a",
    "skipped": "#757575",
    "running": "#1565c0",
}


def _iso(value: datetime) -> str:
    return value.isoformat()


def _layout(title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    layout = {
        "title": {"text": title, "font": {"size": 15}},
        "xaxis": {"type": "date"},
        "yaxis": {"title": {"text": y_title}, "rangemode": "tozero"},
        "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
        "height": 300,
        "legend": {"orientation": "h", "y": -0.2},
        "hovermode": "closest",
        "showlegend": True,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#fafafa",
    }
    layout.update(extra)
    return layout


def _by_target(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["target"]].append(row)
    return dict(sorted(grouped.items()))


def run_charts(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Charts of the real (not dry) runs: rows merged per run, and run duration with its status, one trace per table.
    Each chart: {"id", "figure": {"data": [...], "layout": {...}}}."""
    real = _by_target([r for r in runs if not r["dry_run"]])
    if not real:
        return []
    merged = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": target,
            "x": [_iso(r["started_at"]) for r in rows],
            "y": [r["rows_merged"] or 0 for r in rows],
            "text": [f"run {r['run_id']} ({r['status']})" for r in rows],
        }
        for target, rows in real.items()
    ]
    duration = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": target,
            "x": [_iso(r["started_at"]) for r in rows],
            "y": [round(r["seconds"], 3) for r in rows],
            "text": [f"run {r['run_id']}: {r['status']}" for r in rows],
            "marker": {"size": 10, "color": [STATUS_COLORS.get(r["status"], "#000") for r in rows]},
            "line": {"width": 1},
        }
        for target, rows in real.items()
    ]
    return [
        {"id": "chart-rows-merged", "figure": {"data": merged, "layout": _layout("Rows merged per run", "rows")}},
        {
            "id": "chart-run-duration",
            "figure": {
                "data": duration,
                "layout": _layout(
                    "Run duration (marker: status — green succeeded, orange partial, red failed, purple cancelled)",
                    "seconds",
                ),
            },
        },
    ]


def snapshot_charts(snapshots: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Charts of mlops.metric_snapshots: duplicate rate, review queue size and age (one trace per table), and per
    table its data-quality metrics as trends."""
    grouped = _by_target(snapshots)
    if not grouped:
        return []
    rate = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": target,
            "x": [_iso(r["taken_at"]) for r in rows if r["duplicate_rate"] is not None],
            "y": [round(r["duplicate_rate"] * 100, 3) for r in rows if r["duplicate_rate"] is not None],
        }
        for target, rows in grouped.items()
    ]
    queue = [
        {
            "type": "scatter",
            "mode": "lines+markers",
            "name": f"{target}: pending",
            "x": [_iso(r["taken_at"]) for r in rows],
            "y": [r["pending_reviews"] for r in rows],
        }
        for target, rows in grouped.items()
    ] + [
        {
            "type": "scatter",
            "mode": "lines",
            "line": {"dash": "dot"},
            "yaxis": "y2",
            "name": f"{target}: oldest (hours)",
            "x": [_iso(r["taken_at"]) for r in rows],
            "y": [round((r["oldest_pending_review_seconds"] or 0) / 3600, 2) for r in rows],
        }
        for target, rows in grouped.items()
    ]
    charts = [
        {
            "id": "chart-duplicate-rate",
            "figure": {"data": rate, "layout": _layout("Duplicate rate per run (% of the table merged)", "%")},
        },
        {
            "id": "chart-review-queue",
            "figure": {
                "data": queue,
                "layout": _layout(
                    "Review queue: pending pairs and age of the oldest",
                    "pairs",
                    yaxis2={"title": {"text": "hours"}, "overlaying": "y", "side": "right", "rangemode": "tozero"},
                    margin={"l": 60, "r": 60, "t": 40, "b": 40},
                ),
            },
        },
    ]
    for n, (target, rows) in enumerate(grouped.items()):
        data = [
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": label,
                "x": [_iso(r["taken_at"]) for r in rows],
                "y": [r[column] for r in rows],
                # an incremental run's snapshot may not have measured them (NULL): the line goes on across it
                "connectgaps": True,
            }
            for column, label in QUALITY_METRICS
            if any(r[column] for r in rows)
        ]
        charts.append(
            {
                "id": f"chart-quality-{n}",
                "figure": {"data": data, "layout": _layout(f"Data quality: {target}", "count")},
                "empty": not data,
                "target": target,
            }
        )
    return charts


@bp.get("/")
def page() -> str:
    """The dashboard; every part reads well when there are no runs, snapshots or alerts yet."""
    days = min(max(request.args.get("days", DEFAULT_DAYS, type=int) or DEFAULT_DAYS, 1), MAX_DAYS)
    runs = query(RUNS_SQL, {"days": days})
    snapshots = query(SNAPSHOTS_SQL, {"days": days})
    return render_template(
        "dashboard.html",
        stats=query("SELECT * FROM mlops.dedup_stats ORDER BY target::text"),
        queue=query(QUEUE_SQL),
        alerts=query(OPEN_ALERTS_SQL),
        runs=runs,
        recent_runs=query(RECENT_RUNS_SQL, {"days": None}),
        days=days,
        run_charts=run_charts(runs),
        snapshot_charts=snapshot_charts(snapshots),
        snapshots=len(snapshots),
    )
