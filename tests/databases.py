"""Throwaway databases for tests: a migrated SQLite file per test, and one PostgreSQL
database per test session (created and dropped here), emptied between tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from backbeat.store.engine import make_engine
from backbeat.store.migrate import upgrade
from backbeat.store.tables import metadata
from backbeat.testing.databases import throwaway_postgres

PG_ADMIN_URL = os.environ.get(
    "BACKBEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def postgres_database(prefix: str = "backbeat_test", *, migrated: bool = False) -> Iterator[str]:
    """A new PostgreSQL database (empty, or at the newest schema when `migrated`); dropped
    afterwards (its connections are cut)."""
    with throwaway_postgres(PG_ADMIN_URL, prefix, migrated=migrated) as url:
        yield url


def truncate_all(engine: Engine) -> None:
    """Empty every table. DELETE, child tables first: on small tables it is an order of
    magnitude faster than TRUNCATE, which rewrites each table's files."""
    with engine.begin() as connection:
        for table in reversed(metadata.sorted_tables):
            connection.execute(table.delete())


class SqliteTemplate:
    """Migrating takes a while; migrate once, then copy the file for each test."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "template.db"
        engine = make_engine(f"sqlite:///{self.path}")
        upgrade(engine)
        with engine.connect() as connection:
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def fresh(self, directory: Path) -> str:
        target = directory / "backbeat.db"
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"


@contextmanager
def statements_run(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs inside the block, in order (to check query counts)."""
    statements: list[str] = []

    def record(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@contextmanager
def engine_with(engine: Engine, *statements: str) -> Iterator[Engine]:
    """Another engine on `engine`'s database, made as Backbeat makes them but with its own
    pool, every connection of which first runs `statements` (a session setting such as
    "SET lock_timeout = '50ms'" or "PRAGMA busy_timeout = 0"). So a test tunes the session of
    a unit of work (`SqlUnitOfWork(engine_with(...))`) without reaching into its connection.
    Disposed afterwards."""
    other = make_engine(engine.url.render_as_string(hide_password=False))

    def configure(dbapi_connection: Any, _record: object) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()
        dbapi_connection.commit()  # PostgreSQL: a SET rolled back with its transaction is undone

    event.listen(other, "connect", configure)
    try:
        yield other
    finally:
        other.dispose()
