"""PostgreSQL's max_connections against what every Backbeat process's pool may open
(BACKBEAT_EXPECTED_PROCESSES × twice BACKBEAT_DB_POOL_SIZE)."""

from __future__ import annotations

from backbeat.config import Settings
from backbeat.ops.doctor.check import NO_DATABASE, Check
from backbeat.ops.doctor.database import DatabaseFacts

CONNECTIONS_WARN = 0.8  # of the usable connections


def check_connections(settings: Settings, facts: DatabaseFacts | None) -> Check:
    name = "max_connections"
    if settings.is_sqlite:
        return Check(name, "skip", "not applicable on SQLite")
    if facts is None or facts.max_connections is None:
        return Check(name, "skip", NO_DATABASE)
    usable = facts.max_connections - facts.reserved_connections
    per_process = 2 * settings.db_pool_size  # the pool, and as much overflow
    need = settings.expected_processes * per_process
    found = (
        f"PostgreSQL allows {usable} connections (max_connections {facts.max_connections}, "
        f"{facts.reserved_connections} reserved; {facts.open_connections} open now)"
    )
    estimate = (
        f"{settings.expected_processes} processes (BACKBEAT_EXPECTED_PROCESSES) × "
        f"{per_process} (twice BACKBEAT_DB_POOL_SIZE={settings.db_pool_size}) = {need}"
    )
    fix = (
        "raise max_connections in postgresql.conf, lower BACKBEAT_DB_POOL_SIZE, or run "
        "fewer processes (or a pooler such as PgBouncer)"
    )
    if need > usable:
        return Check(name, "fail", f"{found}, Backbeat may need {estimate}: {fix}")
    if need > usable * CONNECTIONS_WARN:
        return Check(
            name, "warn", f"{found}, Backbeat may need {estimate}, close to the limit: {fix}"
        )
    return Check(name, "ok", f"{found}; Backbeat may need {estimate}")
