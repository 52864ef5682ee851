"""`backbeat doctor`: the configuration and what it depends on, one check at a time.

Each check is a small function that returns a `Check`: its status (ok, warn, fail, or skip
when it does not apply or is not configured) and one line saying what it found and, when
something is wrong, what to fix. `backbeat doctor` prints one line per check and exits
non-zero if any failed. Secrets are never printed: messages name settings, not values, and
every configured secret is scrubbed from them all the same.

The database probe here (an engine that connects afresh, with short timeouts; what a
failure means; how far the schema is from head) is shared with `GET /readyz`.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import smtplib
import socket
import ssl
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import ValidationError
from sqlalchemy import Connection, Engine, create_engine, make_url
from sqlalchemy.pool import NullPool

from backbeat.agents.base import ModelRequest, UserMessage
from backbeat.agents.routing import ProviderName, Providers, Route, configured_providers, resolve
from backbeat.agents.tools.email import IMPLICIT_TLS_PORT, scrub_password, smtp_reply
from backbeat.config import Settings
from backbeat.domain.clock import SystemClock, iso_utc
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.store.migrate import MIGRATIONS

Status = Literal["ok", "warn", "fail", "skip"]
LABELS: dict[Status, str] = {"ok": "ok", "warn": "warn", "fail": "FAIL", "skip": "skip"}

DATABASE_TIMEOUT = 5.0  # seconds: connecting, and each statement
PROVIDER_TIMEOUT = 15.0  # seconds for the 1-token request
SMTP_TIMEOUT = 10.0
CLOCK_WARN = timedelta(seconds=1)
CLOCK_FAIL = timedelta(seconds=10)
CONNECTIONS_WARN = 0.8  # of the usable connections

HOW_TO_GENERATE = "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'"
NO_DATABASE = "not checked: the database did not answer"
SCRUB_MIN = 8  # characters: shorter secret values are not replaced in the final messages


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    message: str

    def line(self) -> str:
        return f"{LABELS[self.status]:<4}  {self.name:<15} {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status, "message": self.message}


def failed(checks: Iterable[Check]) -> bool:
    return any(check.status == "fail" for check in checks)


def summary(checks: list[Check]) -> str:
    """One closing line: "all good (10 checks)", or what failed and warned."""
    fails = sum(check.status == "fail" for check in checks)
    warns = sum(check.status == "warn" for check in checks)
    counted = f"({len(checks)} checks)"
    warned = f"{warns} warning{'s' if warns != 1 else ''}"
    if fails:
        return f"{fails} failed, {warned} {counted}: fix the FAIL lines"
    if warns:
        return f"no failures, {warned} {counted}"
    return f"all good {counted}"


# --- The database probe (shared with /readyz) ------------------------------------------------


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


@cache
def _script() -> tuple[str | None, frozenset[str]]:
    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head(), frozenset(r.revision for r in script.walk_revisions())


def head_revision() -> str | None:
    """The newest migration this Backbeat ships (read once per process)."""
    return _script()[0]


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def migration_problem(current: str | None, head: str | None = None) -> str | None:
    """What is wrong with a database at revision `current`, or None when it is at head."""
    head = head if head is not None else head_revision()
    if current == head:
        return None
    if current is None:
        return f"no schema yet, head is {head}: run backbeat migrate"
    if current not in _script()[1]:
        return (
            f"at {current}, which this Backbeat does not know (its head is {head}): "
            "run the Backbeat version that migrated it, or a newer one"
        )
    return f"at {current}, head is {head}: run backbeat migrate"


def newer_schema(current: str | None) -> bool:
    """A revision this Backbeat does not know: a newer release migrated the database."""
    return current is not None and current not in _script()[1]


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


def redacted_url(url: str) -> str:
    """A database or provider URL with any password replaced by ***."""
    if "://" not in url:
        return url
    try:
        if url.startswith(("sqlite", "postgres")):
            return make_url(url).render_as_string(hide_password=True)
        parts = urlsplit(url)
    except Exception:  # an unparseable URL: show its scheme only
        return url.split("://", 1)[0] + "://…"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


# --- The checks ------------------------------------------------------------------------------


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


def settings_failure(exc: ValidationError) -> Check:
    """A setting that does not parse: which one, and why (never the value given)."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"])
        problems.append(f"BACKBEAT_{field.upper()}: {error['msg']}")
    return Check("settings", "fail", "; ".join(problems) or "the settings do not parse")


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
    problem = migration_problem(facts.revision)
    if problem is None:
        return Check("migrations", "ok", f"at {facts.revision} (head)")
    if settings.is_sqlite and facts.revision in _script()[1] | {None}:
        return Check(
            "migrations", "warn", f"{problem} (backbeat serve migrates SQLite when it starts)"
        )
    return Check("migrations", "fail", problem)


def _without_database(name: str, settings: Settings) -> Check:
    if settings.is_sqlite:
        return Check(name, "skip", "not applicable: the database does not exist yet")
    return Check(name, "skip", NO_DATABASE)


def check_secret(settings: Settings) -> Check:
    key = settings.secret_key
    secret_file = settings.secret_file
    if key is not None:
        if len(key.get_secret_value()) < 32:
            return Check(
                "secret",
                "fail",
                f"BACKBEAT_SECRET_KEY is shorter than 32 characters: generate one with "
                f"{HOW_TO_GENERATE}",
            )
        if (
            secret_file is not None
            and secret_file.exists()
            and secret_file.read_text().strip() != key.get_secret_value()
        ):
            return Check(
                "secret",
                "warn",
                f"BACKBEAT_SECRET_KEY differs from the secret in {secret_file}: API keys "
                "issued with that file's secret no longer work (unset the variable to "
                "keep them)",
            )
        return Check("secret", "ok", "BACKBEAT_SECRET_KEY is set")
    if not settings.is_sqlite:
        return Check(
            "secret",
            "fail",
            f"BACKBEAT_SECRET_KEY is not set: it is required with PostgreSQL (generate one "
            f"with {HOW_TO_GENERATE})",
        )
    if secret_file is None:
        return Check("secret", "ok", "generated for each process (in-memory SQLite)")
    if not secret_file.exists():
        return Check("secret", "ok", f"generated in {secret_file} on first start")
    mode = secret_file.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return Check(
            "secret", "warn", f"{secret_file} is readable by others: chmod 600 {secret_file}"
        )
    return Check("secret", "ok", f"kept in {secret_file}")


def check_clock(settings: Settings, facts: DatabaseFacts | None) -> Check:
    if settings.is_sqlite:
        if settings.clock_start is not None:
            return Check(
                "clock",
                "warn",
                f"BACKBEAT_CLOCK_START is set ({iso_utc(settings.clock_start)}): this "
                "process's clock is not the real time (for demos and tests only)",
            )
        return Check("clock", "skip", "not applicable on SQLite (one machine, one clock)")
    if facts is None or facts.skew is None:
        return Check("clock", "skip", NO_DATABASE)
    skew = facts.skew
    size = max(timedelta(0), abs(skew) - facts.uncertainty)
    direction = "ahead of" if skew > timedelta(0) else "behind"
    whose = "this process's clock" if settings.clock_start is not None else "this machine's clock"
    said = f"{whose} is {_duration(abs(skew))} {direction} the database's"
    if size < CLOCK_WARN:
        return Check("clock", "ok", f"within {_duration(abs(skew))} of the database's")
    fix = (
        "unset BACKBEAT_CLOCK_START (for demos and tests only)"
        if settings.clock_start is not None
        else "synchronise this machine's clock (NTP), or the database server's"
    )
    if size < CLOCK_FAIL:
        return Check("clock", "warn", f"{said}: {fix}")
    return Check(
        "clock",
        "fail",
        f"{said}: a scheduler here fires at the wrong time, and workers may take over "
        f"each other's runs: {fix}",
    )


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


# Model providers


_PROVIDERS: tuple[ProviderName, ...] = ("anthropic", "openai", "compatible")
_KEY_SETTINGS = {
    "anthropic": "BACKBEAT_ANTHROPIC_API_KEY",
    "openai": "BACKBEAT_OPENAI_API_KEY",
    "compatible": "BACKBEAT_COMPATIBLE_API_KEY",
}
_URL_SETTINGS = {
    "anthropic": "BACKBEAT_ANTHROPIC_BASE_URL",
    "openai": "BACKBEAT_OPENAI_BASE_URL",
    "compatible": "BACKBEAT_COMPATIBLE_BASE_URL",
}
# Cheap models to ask when the default model is served by another provider.
_PROBE_MODELS = {"anthropic": "claude-haiku-4-5", "openai": "gpt-4o-mini"}


def check_providers(settings: Settings, timeout: float = PROVIDER_TIMEOUT) -> list[Check]:
    """Each configured provider, asked for one token (all at once)."""
    configured = configured_providers(settings)
    names = [name for name in _PROVIDERS if name in configured]
    if not names:
        return [
            Check(
                "providers",
                "warn",
                "no model provider is configured: runs fail until you set "
                "BACKBEAT_ANTHROPIC_API_KEY, BACKBEAT_OPENAI_API_KEY or "
                "BACKBEAT_COMPATIBLE_BASE_URL",
            )
        ]
    return asyncio.run(_check_providers(settings, names, timeout))


async def _check_providers(
    settings: Settings, names: list[ProviderName], timeout: float
) -> list[Check]:
    providers = Providers(settings)
    try:
        return list(
            await asyncio.gather(
                *(_check_provider(providers, name, settings, timeout) for name in names)
            )
        )
    finally:
        await providers.aclose()


def _probe_model(name: ProviderName, settings: Settings) -> tuple[str, bool]:
    """The model to ask, and whether it is the default model: the default when this
    provider serves it, else a cheap one (a gateway takes the default's id as written)."""
    try:
        route = resolve(settings.default_model, settings)
    except AttemptFailed:
        route = None
    if route is not None and route.provider_name == name:
        return route.model_name, True
    return _PROBE_MODELS.get(name, settings.default_model.strip()), False


def _base_url(name: ProviderName, settings: Settings) -> str:
    # Imported here: the SDKs take seconds to import, and /readyz shares this module.
    from backbeat.agents import anthropic, openai

    if name == "anthropic":
        return settings.anthropic_base_url or anthropic.DEFAULT_BASE_URL
    if name == "openai":
        return settings.openai_base_url or openai.DEFAULT_BASE_URL
    return (settings.compatible_base_url or "").strip()


async def _check_provider(
    providers: Providers, name: ProviderName, settings: Settings, timeout: float
) -> Check:
    model, is_default = _probe_model(name, settings)
    url = redacted_url(_base_url(name, settings))
    request = ModelRequest(
        model=model,
        system="",
        messages=(UserMessage("Reply with OK."),),
        max_output_tokens=1,
        timeout_seconds=timeout,
    )
    try:
        provider = providers.get(Route(name, model))
        started = time.monotonic()
        await provider.complete(request)
        took = time.monotonic() - started
    except AttemptFailed as exc:
        return _provider_failure(name, url, model, is_default, timeout, exc, settings)
    except Exception as exc:
        return Check(name, "fail", f"{url}: the check failed: {type(exc).__name__}: {exc}")
    return Check(name, "ok", f"{url} answered a 1-token request for {model} in {took:.1f} s")


def _provider_failure(
    name: ProviderName,
    url: str,
    model: str,
    is_default: bool,
    timeout: float,
    exc: AttemptFailed,
    settings: Settings,
) -> Check:
    kind = exc.kind
    status = re.search(r"\((\d{3})\)", exc.message)
    code = f" ({status.group(1)})" if status else ""
    url_setting = _URL_SETTINGS[name]
    configured_url = {
        "anthropic": settings.anthropic_base_url,
        "openai": settings.openai_base_url,
        "compatible": settings.compatible_base_url,
    }[name] is not None
    where = (
        f"fix {url_setting}"
        if configured_url
        else "check this machine's network and proxy settings"
    )
    if kind == FailureKind.AUTH:
        return Check(name, "fail", f"{url} refused the key{code}: fix {_KEY_SETTINGS[name]}")
    if kind == FailureKind.NETWORK:
        return Check(name, "fail", f"cannot reach {url} ({_root_cause(exc)}): {where}")
    if kind == FailureKind.TIMEOUT:
        return Check(name, "fail", f"no answer from {url} within {timeout:g} s: {where}")
    if kind == FailureKind.RATE_LIMITED:
        return Check(
            name, "warn", f"{url} accepted the key but is rate limiting it now{code}: runs retry"
        )
    if kind == FailureKind.SERVER:
        if exc.name in ("UnexpectedResponse", "EmptyReply"):
            return Check(name, "fail", f"{url} does not answer like the {name} API: {where}")
        return Check(name, "warn", f"{url} answered with a server error{code}: try again later")
    if kind == FailureKind.BAD_REQUEST:
        if is_default and "(404)" in exc.message:
            return Check(
                name,
                "fail",
                f"{url} does not serve the default model {model!r}: fix BACKBEAT_DEFAULT_MODEL",
            )
        return Check(
            name,
            "warn",
            f"{url} accepted the key but refused the test request for {model}: {exc.message}",
        )
    return Check(name, "fail", f"{url}: {exc.message}")


def _root_cause(exc: BaseException) -> str:
    """Why a connection failed, from the innermost exception ("Connection refused")."""
    seen: set[int] = set()
    current: BaseException = exc
    while id(current) not in seen:
        seen.add(id(current))
        following = current.__cause__ or current.__context__
        if following is None:
            break
        current = following
    if isinstance(current, OSError):
        return _os_reason(current)
    text = str(current).strip()
    return text.splitlines()[0] if text else type(current).__name__


def _os_reason(exc: OSError) -> str:
    """ "Connection refused", "Name or service not known": the errno's words when it has one."""
    if isinstance(exc, socket.gaierror) or not exc.errno or exc.errno < 0:
        text = exc.strerror or str(exc)
    else:
        text = os.strerror(exc.errno)
    text = re.sub(r"^\[Errno -?\d+\]\s*", "", text.strip())
    return text.splitlines()[0] if text else type(exc).__name__


# SMTP


def check_smtp(settings: Settings, timeout: float = SMTP_TIMEOUT) -> Check:
    """Connect, STARTTLS and log in as configured, then QUIT: nothing is sent."""
    host = settings.smtp_host
    if not host:
        return Check(
            "smtp",
            "skip",
            "not configured: set BACKBEAT_SMTP_HOST (and _PORT, _USERNAME, _PASSWORD) for tasks "
            "to send email",
        )
    port = settings.smtp_port
    where = f"{host}:{port}"
    username = settings.smtp_username or None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
    implicit_tls = port == IMPLICIT_TLS_PORT
    starttls = settings.smtp_starttls and not implicit_tls
    done: list[str] = []
    step = "connecting"
    try:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if implicit_tls:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            step = "greeting"
            smtp.ehlo()
            if starttls:
                step = "STARTTLS"
                smtp.starttls(context=context)
                smtp.ehlo()
                done.append("STARTTLS")
            if username:
                step = "login"
                smtp.login(username, password)
                done.append(f"the login as {username}")
    except Exception as exc:

        def scrub(text: str) -> str:  # what the server said could quote the password
            return scrub_password(text, username, password)

        return Check("smtp", "fail", _smtp_failure(exc, where, step, username, timeout, scrub))
    found = f"{where} answered" + (f"; {' and '.join(done)} succeeded" if done else "")
    found += " (nothing was sent)"
    if username and not (starttls or implicit_tls) and not _loopback(host):
        return Check(
            "smtp",
            "warn",
            f"{found}, but the password crosses the network in clear: turn on "
            "BACKBEAT_SMTP_STARTTLS, or use port 465",
        )
    if password and not username:
        return Check(
            "smtp",
            "warn",
            f"{found}, but BACKBEAT_SMTP_PASSWORD is set without BACKBEAT_SMTP_USERNAME: "
            "no login happens",
        )
    return Check("smtp", "ok", found)


def _smtp_failure(
    exc: BaseException,
    where: str,
    step: str,
    username: str | None,
    timeout: float,
    scrub: Callable[[str], str],
) -> str:
    """What went wrong, naming the settings to fix; `scrub` cleans what the server said."""
    reach = "fix BACKBEAT_SMTP_HOST and BACKBEAT_SMTP_PORT"
    reply = ""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = scrub(smtp_reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"{where} refused the login as {username} ({reply}):"
            " fix BACKBEAT_SMTP_USERNAME and BACKBEAT_SMTP_PASSWORD"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if step == "STARTTLS":
            return (
                f"{where} does not offer STARTTLS: set BACKBEAT_SMTP_STARTTLS=false (a local "
                "relay), or use port 465 (TLS from the start)"
            )
        return (
            f"{where} does not offer a login: unset BACKBEAT_SMTP_USERNAME, or turn on "
            "BACKBEAT_SMTP_STARTTLS (many servers offer it only after STARTTLS)"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS with {where} failed ({scrub(str(exc.verify_message or exc.reason))}): "
            "BACKBEAT_SMTP_HOST must be the name on the server's certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS with {where} failed ({scrub(str(exc.reason or type(exc).__name__))}): check "
            "BACKBEAT_SMTP_PORT (465 is TLS from the start, 587 STARTTLS)"
        )
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {timeout:g} s ({step}): {reach}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection ({step}): {reach}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where} answered {reply} ({step})"
    if isinstance(exc, OSError):
        return f"cannot reach {where} ({scrub(_os_reason(exc))}): {reach}"
    return f"{where}: the check failed ({step}): {type(exc).__name__}: {scrub(str(exc))}"


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


# --- All of them -----------------------------------------------------------------------------


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; a check's own error becomes its failure, never a crash."""
    checks: list[Check] = [Check("settings", "ok", "BACKBEAT_* settings parse")]
    database, facts = _guarded("database", lambda: check_database(settings))
    checks.append(database)
    steps: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("migrations", lambda: check_migrations(settings, facts)),
        ("secret", lambda: check_secret(settings)),
        ("providers", lambda: check_providers(settings)),
        ("smtp", lambda: check_smtp(settings)),
        ("clock", lambda: check_clock(settings, facts)),
        ("max_connections", lambda: check_connections(settings, facts)),
    ]
    for name, step in steps:
        try:
            found = step()
        except Exception as exc:
            found = Check(name, "fail", f"the check failed: {type(exc).__name__}: {exc}")
        checks.extend(found if isinstance(found, list) else [found])
    return scrubbed(checks, settings.secret_values())


def _guarded(
    name: str, step: Callable[[], tuple[Check, DatabaseFacts | None]]
) -> tuple[Check, DatabaseFacts | None]:
    try:
        return step()
    except Exception as exc:
        return Check(name, "fail", f"the check failed: {type(exc).__name__}: {exc}"), None


def scrubbed(checks: list[Check], secrets: Iterable[str]) -> list[Check]:
    """The checks with every secret value replaced by *** (defence in depth: the checks put
    no secret in a message, and scrub what servers say). Values under 8 characters are left
    alone here, or a password such as "wrong" would mangle the words around it."""
    values = sorted({s for s in secrets if len(s) >= SCRUB_MIN}, key=len, reverse=True)

    def scrub(text: str) -> str:
        for value in values:
            text = text.replace(value, "***")
        return text

    return [Check(c.name, c.status, scrub(c.message)) for c in checks]


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {int(seconds) % 60} s"
