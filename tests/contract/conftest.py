"""Fixtures for the persistence contract suite.

Every test here takes `uow` (or `engine`), so it runs on each backend: SQLite and PostgreSQL
(the SQL store) and the in-memory store (backbeat.testing.memory_store). A test that needs a
real SQL database says so with `builders.sql_only`, which leaves the memory backend out.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from backbeat.store.engine import make_engine
from backbeat.testing.memory_store import IntegrityViolation, MemoryStore
from tests.contract.builders import BACKENDS, SqlUowFactory, UowFactory, World, account, artist
from tests.databases import SqliteTemplate, truncate_all


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate
) -> Iterator[str]:
    """The SQL backends' database, as tests/conftest.py's `db_url` gives it."""
    if backend == "memory":
        pytest.fail("this test needs a SQL database: mark it sql_only")
    if backend == "sqlite":
        yield sqlite_template.fresh(tmp_path)
        return
    engine: Engine = request.getfixturevalue("pg_engine")
    truncate_all(engine)
    yield request.getfixturevalue("pg_session_url")


@pytest.fixture
def engine(db_url: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    if db_url.startswith("postgresql"):
        # The session's database, emptied by `db_url`; its pool saves a connect per test.
        shared: Engine = request.getfixturevalue("pg_engine")
        yield shared
        return
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def uow(backend: str, request: pytest.FixtureRequest) -> UowFactory:
    """`with uow() as u: …` — a unit of work on this test's database (or memory store)."""
    if backend == "memory":
        return MemoryStore().unit_of_work
    return SqlUowFactory(request.getfixturevalue("engine"))


@pytest.fixture
def refused(backend: str) -> type[Exception]:
    """What the backend raises when the schema refuses a write (a unique key, a foreign key
    or a check): the driver's error on SQL, the memory store's own in memory."""
    return IntegrityViolation if backend == "memory" else IntegrityError


@pytest.fixture
def world(uow: UowFactory) -> World:
    owner = account("owner@example.com")
    own_artist = artist(account_id=owner.id)
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.accounts.add_artist(own_artist)
        u.commit()
    return World(owner, own_artist)
