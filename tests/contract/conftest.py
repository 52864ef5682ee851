"""Fixtures for the persistence contract suite.

Every test here takes `engine` or `uow`, so it runs once on SQLite and once on PostgreSQL
through the shared `db_url` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from backbeat.store.engine import make_engine
from backbeat.store.uow import SqlUnitOfWork
from tests.contract.builders import UowFactory, World, account, artist


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
def uow(engine: Engine) -> UowFactory:
    """`with uow() as u: …` — a unit of work on this test's database."""

    def make(*, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, write=write)

    return make


@pytest.fixture
def world(uow: UowFactory) -> World:
    owner = account("owner@example.com")
    own_artist = artist(account_id=owner.id)
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.accounts.add_artist(own_artist)
        u.commit()
    return World(owner, own_artist)
