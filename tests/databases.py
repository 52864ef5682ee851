"""Throwaway databases for tests: a migrated SQLite file per test, and one PostgreSQL
database per test session (created and dropped here), emptied between tests."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import Engine

from backbeat.store.engine import make_engine
from backbeat.store.migrate import upgrade
from backbeat.store.tables import metadata

PG_ADMIN_URL = os.environ.get(
    "BACKBEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def pg_url(database: str) -> str:
    base, _, _ = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}"


@contextmanager
def postgres_database(prefix: str = "backbeat_test") -> Iterator[str]:
    """A new, empty PostgreSQL database; dropped afterwards (its connections are cut)."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        with psycopg.connect(_libpq(PG_ADMIN_URL), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
