"""Collisions planned through indexes (an index leads with the FK's columns) give what the plan by scans gives."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Two referencing tables with the same rows: the first has an index that leads with the FK column (its unique key
# starts with it: collisions are planned by index probes), the second none (its unique key starts with the other
# column: planned by scans). A partial unique expression index on both.
SCHEMA = """
CREATE TABLE person (id int PRIMARY KEY);
CREATE TABLE probed (
    id int PRIMARY KEY, person_id int REFERENCES person, course int, tag text, UNIQUE (person_id, course)
);
CREATE UNIQUE INDEX probed_tag_key ON probed (person_id, lower(tag)) WHERE tag IS NOT NULL;
CREATE TABLE scanned (
    id int PRIMARY KEY, person_id int REFERENCES person, course int, tag text, UNIQUE (course, person_id)
);
CREATE UNIQUE INDEX scanned_tag_key ON scanned (lower(tag), person_id) WHERE tag IS NOT NULL;
"""


@pytest.fixture
def schema(conn: psycopg.Connection) -> Iterator[psycopg.Connection]:
    conn.execute(SCHEMA)
    yield conn


def rows(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(f"SELECT id, person_id, course, tag FROM {table} ORDER BY id").fetchall()


def archived(conn: psycopg.Connection, table: str) -> list[tuple]:
    return conn.execute(
        "SELECT (a.row_data ->> 'id')::int, (a.row_data ->> 'person_id')::int FROM mlops.merge_archive AS a"
        " WHERE a.target = %s::regclass ORDER BY 1",
        (table,),
    ).fetchall()


def test_the_probed_table_is_planned_through_its_index(schema: psycopg.Connection) -> None:
    probed, scanned = schema.execute(
        "SELECT mlops.index_leads_with('probed', ARRAY['person_id']), mlops.index_leads_with('scanned', "
        "ARRAY['person_id'])"
    ).fetchone()
    assert (probed, scanned) == (True, False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    data=st.lists(
        st.tuples(st.integers(1, 6), st.integers(1, 3), st.sampled_from([None, "a", "A", "b"])),
        min_size=1,
        max_size=25,
    ),
    merges=st.lists(st.tuples(st.integers(1, 6), st.integers(1, 6)), min_size=1, max_size=4),
)
def test_probes_and_scans_plan_the_same_collisions(
    schema: psycopg.Connection, data: list[tuple[int, int, str | None]], merges: list[tuple[int, int]]
) -> None:
    schema.execute("TRUNCATE probed, scanned, mlops.merge_archive, mlops.merge_moves, mlops.merges CASCADE")
    schema.execute("DELETE FROM person")
    schema.execute("INSERT INTO person SELECT generate_series(1, 6)")
    seen: set = set()
    for n, (person, course, tag) in enumerate(data, start=1):
        if (person, course) in seen or (tag is not None and (person, tag.lower()) in seen):
            continue
        seen |= {(person, course)} | ({(person, tag.lower())} if tag is not None else set())
        for table in ("probed", "scanned"):
            schema.execute(f"INSERT INTO {table} VALUES (%s, %s, %s, %s)", (n, person, course, tag))
    # each loser once, never a survivor too
    pairs: dict[int, int] = {}
    for survivor, loser in merges:
        if survivor != loser and loser not in pairs and loser not in pairs.values() and survivor not in pairs:
            pairs[loser] = survivor
    if not pairs:
        return
    result = schema.execute(
        "SELECT r.merged_rows, r.moved_references, r.conflict_rows FROM mlops.merge_clusters("
        "'person'::regclass, %s::int[], %s::int[], 'test') AS r",
        (list(pairs.values()), list(pairs.keys())),
    ).fetchone()
    assert result[2] % 2 == 0  # each collision happens once in each table
    assert rows(schema, "probed") == rows(schema, "scanned")
    assert archived(schema, "public.probed") == archived(schema, "public.scanned")
    conflicts = schema.execute(
        "SELECT m.conflicts -> 'public.probed' -> 'merged', m.conflicts -> 'public.scanned' -> 'merged'"
        " FROM mlops.merges AS m WHERE m.parent_merge_id IS NULL ORDER BY m.merge_id"
    ).fetchall()
    assert all(p == s for p, s in conflicts)
