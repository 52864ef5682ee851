"""Database errors stop at the store: when the database cannot be used, every engine made by
make_engine raises the domain's DatabaseUnavailable (chained to the driver's error), on
SQLite and PostgreSQL, wherever it happens (connecting, inside a repository, at commit, the
pool running dry). Any other database error is not an outage and stays SQLAlchemy's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, make_url, text
from sqlalchemy.exc import IntegrityError

from backbeat.domain.errors import DatabaseUnavailable
from backbeat.store.engine import make_engine
from backbeat.store.uow import SqlUnitOfWork
from tests.contract.builders import World, account, sql_only
from tests.databases import engine_with


def closed_port() -> int:
    """A local TCP port nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(params=["sqlite-impossible-path", "postgresql-closed-port"])
def unreachable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'no' / 'such' / 'directory' / 'backbeat.db'}"
    else:
        address = make_url("postgresql+psycopg://backbeat@127.0.0.1/backbeat")
        url = address.set(port=closed_port()).render_as_string(hide_password=False)
    engine = make_engine(url)
    yield engine
    engine.dispose()


def test_an_unreachable_database_is_unavailable(unreachable: Engine) -> None:
    with pytest.raises(DatabaseUnavailable) as raised, SqlUnitOfWork(unreachable):
        pass
    error = raised.value
    expected = "unable to open" if unreachable.dialect.name == "sqlite" else "refused"
    assert expected in error.reason.lower()
    assert "\n" not in error.reason
    assert str(error) == error.reason
    assert error.orig is error.__cause__  # the driver's own error, for the database checks
    assert type(error.orig).__module__.split(".")[0] in ("sqlite3", "psycopg")

    with pytest.raises(DatabaseUnavailable), unreachable.connect():  # not only through a uow
        pass


# The victims' sessions are their own engine's (see `engine_with`), named so as to be found.
VICTIM = "backbeat-test-victim"


@sql_only
def test_a_database_cut_inside_a_repository_is_unavailable(engine: Engine, world: World) -> None:
    ada = account("ada@example.com")
    postgresql = engine.dialect.name == "postgresql"
    # SQLite: another writer holds the lock, and the victim will not wait.
    setting = f"SET application_name = '{VICTIM}'" if postgresql else "PRAGMA busy_timeout = 0"
    with engine_with(engine, setting) as victims:
        with SqlUnitOfWork(victims) as victim, SqlUnitOfWork(engine, write=True) as holder:
            if postgresql:  # the session is cut (a restart)
                _terminate(engine, VICTIM)
            with pytest.raises(DatabaseUnavailable) as raised:
                victim.accounts.add(ada)
            holder.commit()
        assert raised.value.orig is raised.value.__cause__
        if not postgresql:
            assert raised.value.reason == "database is locked"
        with SqlUnitOfWork(victims) as after:  # the pool hands out a working connection again
            assert after.accounts.get(world.account.id) == world.account
            assert after.accounts.get(ada.id) is None


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has no session
def test_a_database_cut_before_commit_is_unavailable(engine: Engine, world: World) -> None:
    ada = account("ada@example.com")
    with engine_with(engine, f"SET application_name = '{VICTIM}'") as victims:
        with SqlUnitOfWork(victims, write=True) as victim:
            victim.accounts.add(ada)
            _terminate(engine, VICTIM)
            with pytest.raises(DatabaseUnavailable):
                victim.commit()
        with SqlUnitOfWork(victims) as after:
            assert after.accounts.get(ada.id) is None
            assert after.accounts.get(world.account.id) == world.account


@sql_only
def test_a_pool_that_runs_dry_is_unavailable(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    engine.pool._timeout = 0.05  # type: ignore[attr-defined]  # not 30 s
    held: list[Connection] = []

    def drain() -> None:
        for _ in range(20):
            held.append(engine.connect())

    try:
        with pytest.raises(DatabaseUnavailable, match="QueuePool limit"):
            drain()
        assert held  # the pool gave out what it had first
    finally:
        for connection in held:
            connection.close()
        engine.dispose()


@sql_only
def test_a_refused_constraint_is_not_an_outage(engine: Engine, world: World) -> None:
    with SqlUnitOfWork(engine, write=True) as u, pytest.raises(IntegrityError):
        u.accounts.add(account(world.account.email))


def _terminate(engine: Engine, application_name: str) -> None:
    """Cut the one session of this database that goes by `application_name`, from another."""
    with engine.connect() as connection:
        terminated = connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": application_name},
        ).scalars()
        assert terminated.all() == [True]
