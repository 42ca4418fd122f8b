"""/audit: the FK audit (mlops.fk_policy_report) as the CLI lists it, a legend, and the index each unindexed FK
needs."""

from __future__ import annotations

import psycopg
from flask import Blueprint, render_template, request

from mlops_dedup import api
from mlops_dedup.webconsole.app import error_detail, query

bp = Blueprint("audit", __name__)

# fix: the statement that gives an unindexed reference its index (mlops.fk_index_statement, as the audit's detail and
# the new_fk_unindexed alert give it).
AUDIT_SQL = """
SELECT r.fk_name, r.referencing_table::text AS referencing_table, r.referencing_columns,
    r.referenced_table::text AS referenced_table, r.referenced_columns, r.on_delete, r.on_update, r.indexed, r.risk,
    r.detail,
    CASE WHEN r.indexed IS FALSE THEN mlops.fk_index_statement(r.referencing_table, r.referencing_columns) END AS fix
FROM mlops.fk_policy_report(%s::text) AS r
"""


@bp.get("/audit")
def page() -> str:
    """The audit of every schema, or of ?schema= (FKs from or to it)."""
    schema = request.args.get("schema") or None
    error = None
    try:
        rows = query(AUDIT_SQL, (schema,))
    except psycopg.Error as exc:
        rows, error = [], error_detail(exc)
    entries, legend = api.audit_entries(rows)
    return render_template(
        "audit.html",
        schema=schema,
        error=error,
        entries=entries,
        legend=legend,
        actions=api.AUDIT_ACTIONS,
        unindexed=[e.row for e in entries if e.kind == "unindexed"],
        rows=rows,
    )
