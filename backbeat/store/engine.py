"""Engines for SQLite (the embedded default) and PostgreSQL.

Database errors stop here: every engine made by `make_engine` raises the domain's
DatabaseUnavailable, not its driver's error, when the database cannot be used (see
`unavailable`). Any other driver error (a refused constraint, a syntax error) stays
SQLAlchemy's: the store turns the ones it expects into the domain's (ConcurrentChange), the
rest are bugs.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.pool import PoolProxiedConnection, QueuePool, StaticPool

from backbeat.domain.errors import DatabaseUnavailable

# Execution option that marks a transaction as one that will write. On SQLite it starts with
# BEGIN IMMEDIATE, taking the write lock up front: a deferred transaction that reads and then
# writes can fail with "database is locked" without waiting when another writer got there
# first, while an immediate one waits its turn (busy_timeout).
WRITE = "backbeat_write"


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        engine = _sqlite_engine(url, echo=echo)
    else:
        _fast_json_for_psycopg()
        engine = create_engine(
            url,
            echo=echo,
            poolclass=_Pool,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,  # a restarted database leaves dead connections in the pool
            pool_recycle=1800,
        )
    event.listen(engine, "handle_error", _on_error)
    return engine


def unavailable(error: BaseException) -> DatabaseUnavailable | None:
    """The domain's error for `error` if it means the database cannot be used: the driver's
    OperationalError (refused or failed connection, server shutting down, SQLite's file
    unopenable or locked, a lock or statement timeout), any driver error that cut the
    connection, or the pool's timeout. None for any other error."""
    if isinstance(error, PoolTimeout):
        return DatabaseUnavailable(_first_line(error), error)
    if isinstance(error, OperationalError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated
    ):
        driver = error.orig if error.orig is not None else error
        return DatabaseUnavailable(_first_line(driver), driver)
    return None


def _on_error(context: ExceptionContext) -> DatabaseUnavailable | None:
    """SQLAlchemy's `handle_error` hook: every driver error on this engine passes here, from
    connecting, beginning, executing (in any repository), fetching, committing or rolling
    back. The returned exception is raised in place of SQLAlchemy's (chained to the driver's),
    after SQLAlchemy has invalidated a cut connection."""
    if context.is_pre_ping or context.sqlalchemy_exception is None:
        # The pool's liveness check replaces a dead connection itself; an error that is not
        # the driver's (an interrupt, a bad parameter) is not an outage.
        return None
    return unavailable(context.sqlalchemy_exception)


class _Pool(QueuePool):
    """SQLAlchemy's default pool, whose timeout (no connection came free in time: the one
    database error raised outside `handle_error`) is the domain's DatabaseUnavailable."""

    def connect(self) -> PoolProxiedConnection:
        try:
            return super().connect()
        except PoolTimeout as exc:
            translated = unavailable(exc)
            assert translated is not None
            raise translated from exc


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    in_memory = ":memory:" in url or url.rstrip("/").endswith("sqlite:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    # One shared connection in memory, or each sees an empty database; on a file, SQLite's
    # default (a QueuePool), whose timeouts are an outage like PostgreSQL's.
    kwargs["poolclass"] = StaticPool if in_memory else _Pool
    engine = create_engine(url, echo=echo, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below issue BEGIN, instead of pysqlite's own guess.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 30000")
        if not in_memory:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            # Checkpoint the WAL less often: a big dispatch batch dirties >1,000 pages, and the
            # default (1,000) checkpointed inside most of those commits (17% of a dispatch).
            cursor.execute("PRAGMA wal_autocheckpoint = 10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(WRITE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _fast_json_for_psycopg() -> None:
    """psycopg dumps JSON with the stdlib by default; orjson is several times faster (runs
    carry JSON payloads and metadata, and the scheduler inserts them in bulk)."""
    from psycopg.types.json import set_json_dumps

    set_json_dumps(lambda value: orjson.dumps(value).decode())
