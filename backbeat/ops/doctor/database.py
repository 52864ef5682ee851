"""The database: does it answer (a fresh connection with short timeouts), and is its schema
at head. What it told us (`DatabaseFacts`) serves the clock and connections checks too."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine

from backbeat.config import Settings
from backbeat.domain.clock import SystemClock
from backbeat.ops.database import driver_message, limit_statements, migration_problem, probe_engine
from backbeat.ops.doctor.check import NO_DATABASE, Check
from backbeat.ops.logs import redacted_url
from backbeat.store.migrate import Schema, current_revision

DATABASE_TIMEOUT = 5.0  # seconds: connecting, and each statement


@dataclass
class DatabaseFacts:
    """What one connection to the database told us; the later checks read it."""

    server: str
    revision: str | None
    skew: timedelta | None = None  # local clock minus the database's
    uncertainty: timedelta = timedelta(0)  # half the round trip
    max_connections: int | None = None
    reserved_connections: int = 0
    open_connections: int = 0


def check_database(settings: Settings) -> tuple[Check, DatabaseFacts | None]:
    url = redacted_url(settings.database_url)
    path = settings.sqlite_path
    if settings.is_sqlite and path is None:
        return Check("database", "ok", "in-memory SQLite: it lasts as long as the process"), None
    if path is not None and not path.exists():
        if not path.parent.is_dir():
            return Check(
                "database",
                "fail",
                f"the directory {path.parent} does not exist: create it, or fix "
                "BACKBEAT_DATABASE_URL",
            ), None
        return Check(
            "database", "ok", f"{path} does not exist yet: backbeat serve creates and migrates it"
        ), None
    engine = probe_engine(settings.database_url, DATABASE_TIMEOUT)
    try:
        facts = _database_facts(engine, settings)
    except Exception as exc:
        fix = (
            "fix BACKBEAT_DATABASE_URL"
            if settings.is_sqlite
            else "check BACKBEAT_DATABASE_URL and that the server is running"
        )
        return Check("database", "fail", f"cannot use {url}: {driver_message(exc)}: {fix}"), None
    finally:
        engine.dispose()
    return Check("database", "ok", f"{url} answers ({facts.server})"), facts


def _database_facts(engine: Engine, settings: Settings) -> DatabaseFacts:
    with engine.connect() as connection:
        limit_statements(connection, DATABASE_TIMEOUT)
        if connection.dialect.name != "postgresql":
            version = connection.exec_driver_sql("SELECT sqlite_version()").scalar_one()
            return DatabaseFacts(f"SQLite {version}", current_revision(connection))
        version = connection.exec_driver_sql("SHOW server_version").scalar_one()
        revision = current_revision(connection)
        clock = SystemClock(settings.clock_start)
        before = clock.now()
        database_now = connection.exec_driver_sql("SELECT clock_timestamp()").scalar_one()
        after = clock.now()
        row = connection.exec_driver_sql(
            "SELECT current_setting('max_connections')::int,"
            " current_setting('superuser_reserved_connections')::int,"
            " coalesce(current_setting('reserved_connections', true), '0')::int,"
            " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')"
        ).one()
    half_trip = (after - before) / 2
    return DatabaseFacts(
        server=f"PostgreSQL {str(version).split()[0]}",
        revision=revision,
        skew=before + half_trip - database_now,
        uncertainty=half_trip,
        max_connections=int(row[0]),
        reserved_connections=int(row[1]) + int(row[2]),
        open_connections=int(row[3]),
    )


def check_migrations(settings: Settings, facts: DatabaseFacts | None) -> Check:
    if facts is None:
        return _without_database("migrations", settings)
    schema = Schema.at(facts.revision)
    problem = migration_problem(schema)
    if problem is None:
        return Check("migrations", "ok", f"at {facts.revision} (head)")
    if settings.is_sqlite and schema.state in ("behind", "empty"):
        return Check(
            "migrations", "warn", f"{problem} (backbeat serve migrates SQLite when it starts)"
        )
    return Check("migrations", "fail", problem)


def _without_database(name: str, settings: Settings) -> Check:
    if settings.is_sqlite:
        return Check(name, "skip", "not applicable: the database does not exist yet")
    return Check(name, "skip", NO_DATABASE)
