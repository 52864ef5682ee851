"""Database errors stop at the store: when the database cannot be used, every engine made by
make_engine raises the domain's DatabaseUnavailable (chained to the driver's error), on
SQLite and PostgreSQL, wherever it happens (connecting, inside a repository, at commit, the
pool running dry). Any other database error is not an outage and stays SQLAlchemy's."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, make_url
from sqlalchemy.exc import IntegrityError

from backbeat.domain.errors import DatabaseUnavailable
from backbeat.store.engine import make_engine
from backbeat.store.uow import SqlUnitOfWork
from tests.contract.builders import World, account, sql_only


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


@sql_only
def test_a_database_cut_inside_a_repository_is_unavailable(engine: Engine, world: World) -> None:
    ada = account("ada@example.com")
    with SqlUnitOfWork(engine) as victim, SqlUnitOfWork(engine, write=True) as holder:
        if engine.dialect.name == "postgresql":  # the session is cut (a restart)
            _terminate(holder.connection, _backend_pid(victim.connection))
        else:  # SQLite: another writer holds the lock, and this one will not wait
            victim.connection.exec_driver_sql("PRAGMA busy_timeout = 0")
        with pytest.raises(DatabaseUnavailable) as raised:
            victim.accounts.add(ada)
        holder.commit()
    assert raised.value.orig is raised.value.__cause__
    if engine.dialect.name == "sqlite":
        assert raised.value.reason == "database is locked"
    with SqlUnitOfWork(engine) as after:  # the pool hands out a working connection again
        assert after.accounts.get(world.account.id) == world.account
        assert after.accounts.get(ada.id) is None


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SQLite has no session
def test_a_database_cut_before_commit_is_unavailable(engine: Engine, world: World) -> None:
    ada = account("ada@example.com")
    with SqlUnitOfWork(engine, write=True) as victim:
        victim.accounts.add(ada)
        with SqlUnitOfWork(engine) as killer:
            _terminate(killer.connection, _backend_pid(victim.connection))
        with pytest.raises(DatabaseUnavailable):
            victim.commit()
    with SqlUnitOfWork(engine) as after:
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


def _backend_pid(connection: Connection) -> int:
    return int(connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(connection: Connection, pid: int) -> None:
    assert connection.exec_driver_sql("SELECT pg_terminate_backend(%s)", (pid,)).scalar_one()
