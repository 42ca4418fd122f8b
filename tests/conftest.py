"""One throwaway PostgreSQL per test session; each test gets its own database cloned from a template."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import runner

TEMPLATE = "mlops_template"
C_LOCALE_TEMPLATE = "mlops_template_c"
_database_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def server() -> Iterator[runner.EmbeddedPostgresql]:
    with runner.EmbeddedPostgresql() as pg:
        yield pg


@pytest.fixture(scope="session")
def admin_dsn(server: runner.EmbeddedPostgresql) -> str:
    return server.url(database="postgres")


@pytest.fixture(scope="session")
def template_dsn(server: runner.EmbeddedPostgresql, admin_dsn: str) -> str:
    """The platform's database as it is in production, cloned by each test: the platform's own tables (created
    by the platform, platform/schema.sql), then the package installed and the platform adopted (install --platform).
    """
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE}")
    dsn = server.url(database=TEMPLATE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        runner.create_platform_schema(conn)
    runner.install(dsn)
    runner.adopt_platform(dsn)
    return dsn


@pytest.fixture(scope="session")
def c_locale_template_dsn(server: runner.EmbeddedPostgresql, admin_dsn: str) -> str:
    """The platform's database, as template_dsn, in a database created with LC_CTYPE and LC_COLLATE 'C' (UTF8): there
    pg_trgm sees no letter outside ASCII."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(
            f"CREATE DATABASE {C_LOCALE_TEMPLATE} TEMPLATE template0 LC_CTYPE 'C' LC_COLLATE 'C' ENCODING 'UTF8'"
        )
    dsn = server.url(database=C_LOCALE_TEMPLATE)
    with psycopg.connect(dsn, autocommit=True) as conn:
        runner.create_platform_schema(conn)
    runner.install(dsn)
    runner.adopt_platform(dsn)
    return dsn


def _new_database(server: runner.EmbeddedPostgresql, admin_dsn: str, template: str) -> Iterator[str]:
    name = f"test_{next(_database_numbers)}"
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    yield server.url(database=name)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def dsn(server: runner.EmbeddedPostgresql, admin_dsn: str, template_dsn: str) -> Iterator[str]:
    """A fresh database with the package installed."""
    yield from _new_database(server, admin_dsn, TEMPLATE)


@pytest.fixture(params=["C.UTF-8", "C"])
def locale_dsn(
    request: pytest.FixtureRequest, server: runner.EmbeddedPostgresql, admin_dsn: str, template_dsn: str
) -> Iterator[str]:
    """A fresh database with the package installed, once in a UTF-8 locale and once under LC_CTYPE 'C'."""
    if request.param == "C":
        request.getfixturevalue("c_locale_template_dsn")
        yield from _new_database(server, admin_dsn, C_LOCALE_TEMPLATE)
    else:
        yield from _new_database(server, admin_dsn, TEMPLATE)


@pytest.fixture
def empty_dsn(server: runner.EmbeddedPostgresql, admin_dsn: str) -> Iterator[str]:
    """A fresh database with nothing installed."""
    yield from _new_database(server, admin_dsn, "template0")


@pytest.fixture
def platform_dsn(empty_dsn: str) -> str:
    """A fresh database holding only the platform's own tables (platform/schema.sql), as before any install."""
    with psycopg.connect(empty_dsn, autocommit=True) as conn:
        runner.create_platform_schema(conn)
    return empty_dsn


@pytest.fixture
def conn(dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as connection:
        yield connection
