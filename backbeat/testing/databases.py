"""Throwaway databases, for tests and benchmarks: created, migrated if asked, and dropped."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from backbeat.store.engine import make_engine
from backbeat.store.migrate import upgrade


def libpq(url: str) -> str:
    """The URL psycopg takes, from the one SQLAlchemy takes."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def sibling_url(admin_url: str, database: str) -> str:
    """`admin_url` (any database on the server) with the database name replaced."""
    return f"{admin_url.rpartition('/')[0]}/{database}"


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema."""
    engine = make_engine(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()


@contextmanager
def throwaway_postgres(admin_url: str, prefix: str, *, migrated: bool = False) -> Iterator[str]:
    """A new PostgreSQL database on the server `admin_url` reaches (empty, or at the newest
    schema when `migrated`); dropped afterwards, its connections cut."""
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq(admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        url = sibling_url(admin_url, name)
        if migrated:
            migrate(url)
        yield url
    finally:
        with psycopg.connect(libpq(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
