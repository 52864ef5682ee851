"""Engines for SQLite (the embedded default) and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import StaticPool

# Execution option that marks a transaction as one that will write. On SQLite it starts with
# BEGIN IMMEDIATE, taking the write lock up front: a deferred transaction that reads and then
# writes can fail with "database is locked" without waiting when another writer got there
# first, while an immediate one waits its turn (busy_timeout).
WRITE = "backbeat_write"


def make_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url, echo=echo)
    _fast_json_for_psycopg()
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,  # a restarted database leaves dead connections in the pool
        pool_recycle=1800,
    )


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    in_memory = ":memory:" in url or url.rstrip("/").endswith("sqlite:")
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        kwargs["poolclass"] = StaticPool  # one shared connection, or each sees an empty db
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
