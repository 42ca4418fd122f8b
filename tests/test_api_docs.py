"""README's SQL API reference against the catalog: every documented signature is the installed one (names of
parameters, types, which have defaults, result), every routine is documented as public or listed as internal."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

README = Path(__file__).resolve().parent.parent / "README.md"
SIGNATURE = re.compile(r"^(?:CALL )?(mlops\.\w+)\((.*?)\)(?: → (.+))?$")


def api_section() -> str:
    text = README.read_text()
    start = text.index("\n## SQL API\n")
    return text[start : text.index("\n## ", start + 1)]


def documented_public() -> dict[str, set[tuple[str, str | None]]]:
    """name -> {(arguments, result)} from the first cell of every table row of the SQL API section."""
    public: dict[str, set[tuple[str, str | None]]] = {}
    for line in api_section().splitlines():
        cell = re.match(r"^\| `([^`]+)` \|", line)
        if cell:
            match = SIGNATURE.match(cell.group(1))
            assert match, f"README SQL API row is not a signature: {cell.group(1)}"
            public.setdefault(match.group(1), set()).add((match.group(2), match.group(3)))
    return public


def documented_internal() -> set[str]:
    section = api_section()
    internal = section[section.index("### Internal helpers") :]
    return set(re.findall(r"`(mlops\.\w+)\(", internal))


def catalog(conn: psycopg.Connection) -> dict[str, set[tuple[str, str | None]]]:
    """name -> {(arguments as documented, result)} of the installed routines; defaults without their casts."""
    routines: dict[str, set[tuple[str, str | None]]] = {}
    for name, arguments, result, kind in conn.execute(
        """
        SELECT 'mlops.' || p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), p.prokind
        FROM pg_proc p
        WHERE p.pronamespace = 'mlops'::regnamespace
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
        """
    ):
        arguments = re.sub(r"::[a-z_ ]+(?:\[\])?(?=,|$)", "", arguments)  # DEFAULT 'manual'::text
        arguments = re.sub(r"(^|, )IN ", r"\1", arguments)  # a procedure's arguments are IN unless said
        routines.setdefault(name, set()).add((arguments, None if kind == "p" else result))
    return routines


def test_api_table_renders() -> None:
    """A markdown table ends at the first blank line: every row of a table must follow its header unbroken."""
    lines = api_section().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("| `"):
            assert lines[i - 1].startswith("|"), f"table row after a blank line (it renders as text): {line[:60]}"


def test_documented_signatures_are_the_installed_ones(conn: psycopg.Connection) -> None:
    installed = catalog(conn)
    public = documented_public()
    assert {name: public[name] for name in public} == {name: installed.get(name) for name in public}


def test_every_routine_is_public_or_internal_not_both(conn: psycopg.Connection) -> None:
    public, internal = set(documented_public()), documented_internal()
    assert public & internal == set()
    assert set(catalog(conn)) == public | internal
