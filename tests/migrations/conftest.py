"""Empty databases for migration tests: a new SQLite file, or a PostgreSQL database.

Creating a PostgreSQL database takes about a second, so this module's tests share two,
created here and dropped at the end; each test gets them back empty (schema `public`
dropped and recreated), which is what a new database holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine

from backbeat.store.engine import make_engine
from backbeat.testing.databases import libpq
from tests.databases import postgres_database

NAMES = ("migrated", "created")


@pytest.fixture(scope="module")
def pg_databases() -> Iterator[dict[str, str]]:
    with (
        postgres_database("backbeat_migrated") as migrated,
        postgres_database("backbeat_created") as created,
    ):
        yield {"migrated": migrated, "created": created}


def _emptied(url: str) -> str:
    with psycopg.connect(libpq(url), autocommit=True) as connection:
        connection.execute("DROP SCHEMA public CASCADE")
        connection.execute("CREATE SCHEMA public")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def dialect(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def empty_urls(dialect: str, tmp_path: Path, request: pytest.FixtureRequest) -> dict[str, str]:
    """Two empty databases of this test's dialect, by name: "migrated" and "created"."""
    if dialect == "sqlite":
        return {name: f"sqlite:///{tmp_path / name}.db" for name in NAMES}
    databases: dict[str, str] = request.getfixturevalue("pg_databases")
    return {name: _emptied(databases[name]) for name in NAMES}


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def empty_engine(empty_urls: dict[str, str]) -> Iterator[Engine]:
    """An engine on an empty database (no migrations run)."""
    with engine_for(empty_urls["migrated"]) as engine:
        yield engine
