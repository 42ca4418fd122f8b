"""Property test: random small schemas, FK actions, unique keys and clusters. Invariants after a merge: no
reference to a loser, no dangling reference, archived + remaining = before for every table, every surviving
referencing row points where the mapping says; after undoing every merge, every table is as before. Referencing
tables also get random CHECK constraints over the FK column, exclusion constraints (btree_gist) and BEFORE UPDATE
triggers: a merge either goes through with the invariants above, or is refused by the merge's own planning (message
"cannot merge rows of ...") with every table and the merge log unchanged; never a raw constraint error."""

from __future__ import annotations

import contextlib

import psycopg
from helpers import snapshot
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

ACTIONS = ["NO ACTION", "RESTRICT", "CASCADE", "SET NULL"]


@st.composite
def scenarios(draw: st.DrawFn) -> dict:
    n = draw(st.integers(2, 8))
    tables = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "keyed": st.booleans(),
                    "unique": st.booleans(),
                    "action": st.sampled_from(ACTIONS),
                    "check": st.one_of(st.none(), st.integers(1, n)),
                    "exclude": st.booleans(),
                    "trigger": st.booleans(),
                    "rows": st.lists(
                        st.tuples(st.one_of(st.none(), st.integers(1, n)), st.integers(0, 2)), max_size=12
                    ),
                }
            ),
            min_size=1,
            max_size=3,
        )
    )
    parents = draw(st.lists(st.one_of(st.none(), st.integers(1, n)), min_size=n, max_size=n))
    ids = draw(st.permutations(list(range(1, n + 1))))
    cut = draw(st.integers(1, n - 1))
    survivors, others = ids[:cut], ids[cut:]
    losers = draw(st.lists(st.sampled_from(others), min_size=1, unique=True))
    mapping = {loser: draw(st.sampled_from(survivors)) for loser in losers}
    return {"n": n, "tables": tables, "parents": parents, "mapping": mapping, "batch": draw(st.booleans())}


def build(conn: psycopg.Connection, sc: dict) -> tuple[str, ...]:
    conn.execute("DROP SCHEMA IF EXISTS prop CASCADE; TRUNCATE mlops.merges, mlops.merge_archive, mlops.merge_moves")
    conn.execute("CREATE SCHEMA prop; CREATE TABLE prop.t (id int PRIMARY KEY, label text, parent_id int)")
    conn.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    # a user's BEFORE UPDATE trigger that leaves the row as it is (so undo can still be exact) but runs on every move
    conn.execute(
        "CREATE FUNCTION prop.touch() RETURNS trigger LANGUAGE plpgsql AS"
        " $$ BEGIN NEW.k := NEW.k + 0; RETURN NEW; END $$"
    )
    conn.execute("INSERT INTO prop.t SELECT i, 'row ' || i, NULL FROM generate_series(1, %s) AS i", (sc["n"],))
    conn.execute("ALTER TABLE prop.t ADD FOREIGN KEY (parent_id) REFERENCES prop.t (id) ON DELETE SET NULL")
    for i, parent in enumerate(sc["parents"], start=1):
        conn.execute("UPDATE prop.t SET parent_id = %s WHERE id = %s", (parent, i))
    names = ["prop.t"]
    for i, table in enumerate(sc["tables"]):
        name = f"prop.r{i}"
        key = "id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, " if table["keyed"] else ""
        unique = ", UNIQUE (t_id, k)" if table["unique"] else ""
        check = "" if table["check"] is None else f", CHECK (t_id <> {table['check']} OR k > 0)"
        exclude = ", EXCLUDE USING gist (t_id WITH =, span WITH &&)" if table["exclude"] else ""
        conn.execute(
            f"CREATE TABLE {name} ({key}t_id int REFERENCES prop.t (id) ON DELETE {table['action']},"
            f" k int NOT NULL, span int4range GENERATED ALWAYS AS (int4range(k, k + 1)) STORED{unique}{check}"
            f"{exclude})"
        )
        if table["trigger"]:
            conn.execute(
                f"CREATE TRIGGER r{i}_touch BEFORE UPDATE ON {name} FOR EACH ROW EXECUTE FUNCTION prop.touch()"
            )
        for t_id, k in table["rows"]:
            # a row the drawn constraints forbid is simply not there
            with (
                contextlib.suppress(psycopg.errors.CheckViolation, psycopg.errors.ExclusionViolation),
                conn.transaction(),
            ):
                conn.execute(f"INSERT INTO {name} (t_id, k) VALUES (%s, %s) ON CONFLICT DO NOTHING", (t_id, k))
        names.append(name)
    return tuple(names)


def merge(conn: psycopg.Connection, sc: dict) -> list[int]:
    """All merges of the scenario in one transaction: all go through, or none."""
    with conn.transaction():
        return merge_all(conn, sc)


def merge_all(conn: psycopg.Connection, sc: dict) -> list[int]:
    losers = sorted(sc["mapping"])
    survivors = [sc["mapping"][loser] for loser in losers]
    if sc["batch"]:
        (ids,) = conn.execute(
            "SELECT merge_ids FROM mlops.merge_clusters('prop.t', %s::bigint[], %s::bigint[])", (survivors, losers)
        ).fetchone()
        return ids
    return [
        conn.execute(
            "SELECT mlops.merge_rows('prop.t', %s, %s::bigint[])",
            (survivor, [lo for lo in losers if sc["mapping"][lo] == survivor]),
        ).fetchone()[0]
        for survivor in sorted(set(survivors))
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sc=scenarios())
def test_merge_invariants_and_undo_identity(conn: psycopg.Connection, sc: dict) -> None:
    tables = build(conn, sc)
    before = snapshot(conn, tables)
    try:
        merge_ids = merge(conn, sc)
    except (
        psycopg.errors.CheckViolation,
        psycopg.errors.ExclusionViolation,
        psycopg.errors.ObjectNotInPrerequisiteState,
    ) as exc:
        # refused by the plan (a CHECK, an exclusion constraint, a hierarchy cycle), never hit mid-merge
        event(f"refused: {type(exc).__name__}")
        assert str(exc).startswith("cannot merge rows of"), str(exc)
        assert exc.diag.message_hint, str(exc)
        assert snapshot(conn, tables) == before
        assert conn.execute("SELECT count(*) FROM mlops.merges").fetchone() == (0,)
        return
    losers = sorted(sc["mapping"])
    event("merged")

    for table in tables:
        column = "parent_id" if table == "prop.t" else "t_id"
        to_loser = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ANY(%s)", (losers,)).fetchone()[0]
        dangling = conn.execute(
            f"SELECT count(*) FROM {table} AS r WHERE r.{column} IS NOT NULL"
            f" AND NOT EXISTS (SELECT FROM prop.t AS p WHERE p.id = r.{column})"
        ).fetchone()[0]
        remaining = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        archived = conn.execute(
            "SELECT count(*) FROM mlops.merge_archive WHERE target = %s::regclass", (table,)
        ).fetchone()[0]
        assert (to_loser, dangling) == (0, 0), table
        assert remaining + archived == len(before[table]), table

    # every keyed referencing row that is still there points where the mapping says
    for i, spec in enumerate(sc["tables"]):
        if not spec["keyed"]:
            continue
        for row in before[f"prop.r{i}"]:
            now = conn.execute(f"SELECT t_id, k FROM prop.r{i} WHERE id = %s", (row["id"],)).fetchone()
            if now is not None:
                assert now == (sc["mapping"].get(row["t_id"], row["t_id"]), row["k"])

    undo_in_dependency_order(conn, merge_ids)
    assert snapshot(conn, tables) == before


def undo_in_dependency_order(conn: psycopg.Connection, merge_ids: list[int]) -> None:
    """Undo every merge; one refused because another depends on it is retried after the others."""
    pending = list(reversed(merge_ids))
    while pending:
        progressed = False
        for merge_id in list(pending):
            try:
                conn.execute("SELECT mlops.unmerge(%s)", (merge_id,))
            except psycopg.errors.ObjectNotInPrerequisiteState as exc:
                assert "cannot undo merge" in str(exc)
                continue
            pending.remove(merge_id)
            progressed = True
        assert progressed, f"no merge of {pending} can be undone"
