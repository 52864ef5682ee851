"""The database probe that `GET /readyz` and `backbeat doctor` share: an engine that connects
afresh with short timeouts, what a failure means in a few words, and what is wrong with the
schema (from `backbeat.store.migrate.read_schema`, the one answer to "is it current?")."""

from __future__ import annotations

import math

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.pool import NullPool

from backbeat.store.migrate import Schema, read_schema

Checks = dict[str, str]


def probe_engine(url: str, timeout: float) -> Engine:
    """An engine for health checks: no pool (each check connects afresh, so it sees the
    database as a new process would) and a connect timeout. Statements get theirs from
    `limit_statements`."""
    if url.startswith("sqlite"):
        return create_engine(url, poolclass=NullPool, connect_args={"timeout": timeout})
    # libpq counts whole seconds, and treats less than 2 as 2.
    return create_engine(
        url, poolclass=NullPool, connect_args={"connect_timeout": max(2, math.ceil(timeout))}
    )


def limit_statements(connection: Connection, timeout: float) -> None:
    """Statements on this connection's transaction give up after `timeout` (PostgreSQL)."""
    if connection.dialect.name == "postgresql":
        milliseconds = max(1, int(timeout * 1000))
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {milliseconds}")
        connection.exec_driver_sql(f"SET LOCAL lock_timeout = {milliseconds}")


def migration_problem(schema: Schema) -> str | None:
    """What is wrong with the database's schema, or None when it is at head."""
    head = schema.head
    if schema.state == "current":
        return None
    if schema.state == "empty":
        return f"no schema yet, head is {head}: run backbeat migrate"
    if schema.state == "ahead":
        return (
            f"at {schema.revision}, which this Backbeat does not know (its head is {head}): "
            "run the Backbeat version that migrated it, or a newer one"
        )
    return f"at {schema.revision}, head is {head}: run backbeat migrate"


def database_problem(exc: BaseException) -> str:
    """What went wrong talking to the database, in a few words: no host, no credentials.

    For answers anyone may read (/readyz); `backbeat doctor` adds the driver's own words.
    """
    original = getattr(exc, "orig", None) or exc
    text = str(original).lower()
    if isinstance(original, TimeoutError) or "timeout" in text or "timed out" in text:
        return "not answering: timed out"
    if "does not exist" in text:
        return "not answering: the database does not exist"
    if "authentication" in text or "pg_hba.conf" in text or "password" in text:
        return "not answering: the login was refused"
    if "too many" in text or "remaining connection slots" in text:
        return "not answering: too many connections"
    if "connection refused" in text:
        return "not answering: connection refused"
    if "resolve host" in text or "translate host" in text or "name or service" in text:
        return "not answering: host not found"
    if "terminat" in text or "closed the connection" in text or "shutting down" in text:
        return "not answering: the server closed the connection"
    if "unable to open" in text or "not a database" in text:
        return "not answering: cannot open the database file"
    return f"not answering: {type(original).__name__}"


def driver_message(exc: BaseException) -> str:
    """The first line of the driver's error (no credentials: drivers never print them)."""
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return lines[0].strip() if lines else type(original).__name__


def readiness(engine: Engine, timeout: float) -> tuple[Checks, str]:
    """/readyz's checks (the database answers; its schema is at head, or newer), and the
    driver's words for the log when it does not answer. Logs nothing itself."""
    try:
        with engine.connect() as connection:
            limit_statements(connection, timeout)
            connection.exec_driver_sql("SELECT 1")
            schema = read_schema(connection)
    except Exception as exc:
        return {"database": database_problem(exc), "migrations": "not checked"}, driver_message(exc)
    if schema.state == "ahead":
        # A rolling upgrade: a newer release migrated the database; this one runs on it.
        return {"database": "ok", "migrations": f"ok (newer schema {schema.revision})"}, ""
    return {"database": "ok", "migrations": migration_problem(schema) or "ok"}, ""
