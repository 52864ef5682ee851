"""`backbeat …`: serve, migrate, and the operator commands. Every flag has an env variable."""

from __future__ import annotations

import asyncio
import json
import logging
import shlex
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from sqlalchemy.exc import OperationalError

from backbeat import __version__, logs, metrics
from backbeat.config import ConfigurationError, Settings
from backbeat.domain.clock import iso_utc
from backbeat.domain.errors import BackbeatError
from backbeat.domain.plans import Plan
from backbeat.runtime import Background, provider_notice
from backbeat.scheduler.loop import SchedulerLoop
from backbeat.store import migrate as migrations
from backbeat.store.engine import make_engine
from backbeat.wiring import Backbeat, build, build_worker

app = typer.Typer(help="Backbeat: scheduled AI-agent tasks for music teams.", no_args_is_help=True)
accounts_app = typer.Typer(help="Accounts (people or teams that own tasks).", no_args_is_help=True)
orgs_app = typer.Typer(
    help="Organizations: accounts that share artists and tasks.", no_args_is_help=True
)
artists_app = typer.Typer(help="Artists that tasks run against.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(orgs_app, name="orgs")
app.add_typer(artists_app, name="artists")
app.add_typer(keys_app, name="keys")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar="BACKBEAT_DATABASE_URL",
        help="sqlite:///path.db (default sqlite:///backbeat.db) or postgresql+psycopg://…",
        show_envvar=True,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON, for scripts.")]


class _State:
    database_url: str | None = None


_state = _State()


@app.callback()
def main_options(database_url: DatabaseUrl = None) -> None:
    _state.database_url = database_url


def settings(**overrides: Any) -> Settings:
    values = {key: value for key, value in overrides.items() if value is not None}
    if _state.database_url is not None:
        values["database_url"] = _state.database_url
    return Settings(**values)


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def wired(
    check_schema: bool = True, needs_secret: bool = False, service: bool = False
) -> Iterator[Backbeat]:
    """A wired Backbeat; operator errors become one line on stderr and a non-zero exit.

    A long-running `service` logs at BACKBEAT_LOG_LEVEL; a one-shot command only warnings
    and errors, so its output stays what scripts parse.
    """
    backbeat: Backbeat | None = None
    try:
        config = settings()
        level = config.log_level if service else "WARNING"
        logs.configure(level, config.log_format, config.secret_values())
        if service:  # before anything records: the worker, the scheduler, the API
            metrics.configure(config.metrics_dir)
        backbeat = build(config)
        if needs_secret:  # read now (on SQLite: created now), not at the first request
            logs.REDACT.add([backbeat.settings.secret.decode()])
        if check_schema:
            ensure_schema(backbeat)
        yield backbeat
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except BackbeatError as exc:
        raise fail(exc.message) from None
    except OperationalError as exc:
        url = _redacted(backbeat.settings.database_url if backbeat else "the database")
        reason = str(exc.orig or exc).strip().splitlines()[0]
        raise fail(f"cannot use the database {url}: {reason}", 2) from None
    finally:
        if backbeat is not None:
            backbeat.close()


def ensure_schema(backbeat: Backbeat) -> None:
    """The embedded SQLite default migrates itself; elsewhere `backbeat migrate` comes first.

    A schema newer than this code (a rolling upgrade migrated it) is fine: migrations only
    add, so this process runs on it, and says so.
    """
    state = migrations.schema_state(backbeat.engine)
    if state == "current":
        return
    if state == "ahead":
        logging.getLogger("backbeat").warning(
            "the database schema is newer than this Backbeat: running on it (rolling upgrade)",
            extra={
                "event": "schema.newer",
                "revision": migrations.current_revision(backbeat.engine),
                "head": migrations.head_revision(backbeat.engine),
            },
        )
        return
    if backbeat.settings.is_sqlite:
        migrations.upgrade(backbeat.engine)
        return
    raise ConfigurationError(
        "the database schema is not at the latest version: run `backbeat migrate` first"
    )


def emit(as_json: bool, record: dict[str, Any], line: str) -> None:
    typer.echo(json.dumps(record) if as_json else line)


def parse_uuid(kind: str) -> Callable[[str], UUID]:
    def convert(value: str) -> UUID:
        try:
            return UUID(value)
        except ValueError:
            raise typer.BadParameter(f"{kind} must be a UUID, got {value!r}") from None

    return convert


AccountOption = Annotated[UUID, typer.Option("--account", parser=parse_uuid("--account"))]
OrgOption = Annotated[UUID, typer.Option("--org", parser=parse_uuid("--org"))]


@app.command()
def version() -> None:
    """Print Backbeat's version."""
    typer.echo(__version__)


@app.command()
def migrate() -> None:
    """Apply pending database migrations (Alembic upgrade to head)."""
    # Only the database: a migration job needs no server secret, so it is not asked for one.
    config = settings()
    engine = make_engine(config.database_url, pool_size=config.db_pool_size)
    try:
        before = migrations.current_revision(engine)
        migrations.upgrade(engine)
        after = migrations.current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"database at revision {after} (was {before or 'empty'})")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(envvar="BACKBEAT_HOST", show_envvar=True)] = None,
    port: Annotated[int | None, typer.Option(envvar="BACKBEAT_PORT", show_envvar=True)] = None,
    scheduler: Annotated[
        bool,
        typer.Option(
            "--scheduler/--no-scheduler",
            envvar="BACKBEAT_SERVE_SCHEDULER",
            show_envvar=True,
            help="Also run a scheduler in this process (turn off when scheduler processes "
            "run separately).",
        ),
    ] = True,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            envvar="BACKBEAT_SERVE_WORKER",
            show_envvar=True,
            help="Also run a worker in this process (turn off when worker processes run "
            "separately).",
        ),
    ] = True,
) -> None:
    """Run the API, a scheduler and a worker in this process (all Backbeat needs on SQLite)."""
    import uvicorn

    from backbeat.api.app import create_app

    with wired(needs_secret=True, service=True) as backbeat:
        config = settings(host=host, port=port)
        backbeat.settings = config
        announce(backbeat, config)
        if worker:
            typer.echo(provider_notice(config))
        background = Background(backbeat, scheduler=scheduler, worker=worker)
        background.start()
        # uvicorn shuts down gracefully on SIGTERM and then raises the signal again with the
        # handler it found; the default one would kill the process before the worker drains.
        # Found this one instead, it ends the process normally, through `finally`.
        signal.signal(signal.SIGTERM, _exit_normally)
        try:
            uvicorn.run(
                create_app(backbeat),
                host=config.host,
                port=config.port,
                log_config=None,  # uvicorn logs through backbeat.logs like everything else
                log_level=config.log_level.lower(),
            )
        finally:
            background.stop()


def _exit_normally(signum: int, _frame: object) -> None:
    raise SystemExit(0)


@app.command("worker")
def worker_command() -> None:
    """Run a worker alone (scale-out on PostgreSQL: run as many as you like)."""
    with wired(service=True) as backbeat:
        typer.echo(f"Backbeat {__version__} worker on {_redacted(backbeat.settings.database_url)}")
        typer.echo(provider_notice(backbeat.settings))
        worker = build_worker(backbeat)

        async def main() -> None:
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, worker.stop)
            await worker.run()

        asyncio.run(main())


@app.command("scheduler")
def scheduler_command() -> None:
    """Run a scheduler alone (scale-out on PostgreSQL: run as many as you like)."""
    with wired(service=True) as backbeat:
        loop = SchedulerLoop(backbeat.scheduler, backbeat.clock, backbeat.schedule_changed)

        def ask_to_stop(signum: int, _frame: object) -> None:
            typer.echo(f"received {signal.Signals(signum).name}: finishing the current tick")
            loop.stop()

        signal.signal(signal.SIGTERM, ask_to_stop)
        signal.signal(signal.SIGINT, ask_to_stop)
        typer.echo(
            f"Backbeat {__version__} scheduler on {_redacted(backbeat.settings.database_url)}"
        )
        loop.run()


def announce(backbeat: Backbeat, config: Settings) -> None:
    command = _invocation()
    where = f"http://{config.host}:{config.port}"
    typer.echo(f"Backbeat {__version__} listening on {where}")
    typer.echo(f"Dashboard: {where}/   API docs: {where}/docs   Metrics: {where}/metrics")
    typer.echo(f"Database: {_redacted(config.database_url)}")
    with backbeat.uow() as uow:
        has_keys = uow.connection.exec_driver_sql("SELECT 1 FROM api_keys LIMIT 1").first()
    if has_keys is None:
        typer.echo(
            "No API keys yet. In another terminal:\n"
            f"  {command} accounts create --email you@example.com      # prints ACCOUNT_ID\n"
            f"  {command} artists create --name 'Artist' --account ACCOUNT_ID\n"
            f"  {command} keys create --account ACCOUNT_ID             # prints the key once\n"
            f"then: curl -H 'x-api-key: <key>' {where}/api/tasks"
        )


def _invocation() -> str:
    """How this process was started, so the printed commands can be pasted as they are."""
    if Path(sys.argv[0]).name == "__main__.py":  # `python -m backbeat`
        return f"{shlex.quote(sys.executable)} -m backbeat"
    return shlex.quote(sys.argv[0])


def _redacted(url: str) -> str:
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="The account's primary email (owner_email).")],
    name: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account; prints its id."""
    with wired() as backbeat:
        account = backbeat.admin.create_account(email, name)
        emit(as_json, {"id": str(account.id), "email": account.email}, str(account.id))


class PlanChoice(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    NONE = "none"


@accounts_app.command("set-plan")
def accounts_set_plan(
    account_id: Annotated[
        UUID, typer.Argument(parser=parse_uuid("ACCOUNT_ID"), metavar="ACCOUNT_ID")
    ],
    plan: Annotated[
        PlanChoice,
        typer.Argument(help="One of Recoup's plans, or none: no limits (the default)."),
    ],
    task_limit: Annotated[
        int | None, typer.Option(min=0, help="Enabled tasks at most, instead of the plan's.")
    ] = None,
    min_cadence_minutes: Annotated[
        int | None,
        typer.Option(min=1, help="Shortest gap between a task's fires, instead of the plan's."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Give an account a plan (free: 1 weekly task, starter: 3 daily, pro: unlimited hourly),
    or take it away with none. Over the new limits, its oldest enabled tasks keep running."""
    custom = task_limit is not None or min_cadence_minutes is not None
    if plan is PlanChoice.NONE and custom:
        raise fail("none takes no limits: it removes the plan", 2)
    chosen = None if plan is PlanChoice.NONE else Plan(plan.value)
    with wired() as backbeat:
        found = backbeat.admin.set_plan(
            account_id, chosen, task_limit=task_limit, min_cadence_minutes=min_cadence_minutes
        )
    record: dict[str, Any] = {
        "account_id": str(account_id),
        "plan": None if found is None else found.plan.value,
        "task_limit": None if found is None else found.task_limit,
        "min_cadence_minutes": None if found is None else found.min_cadence_minutes,
    }
    if found is None:
        line = f"{account_id}: no plan, no limits"
    else:
        count = found.task_limit
        tasks = (
            "no limit on enabled tasks"
            if count is None
            else f"at most {count} enabled {'task' if count == 1 else 'tasks'}"
        )
        every = f"each at most every {found.min_cadence_minutes} minutes"
        line = f"{account_id}: plan {found.plan.value}, {tasks}, {every}"
    emit(as_json, record, line)


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Option()],
    admin: Annotated[
        bool, typer.Option("--admin", help="Members may act for any account (operators).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an organization; prints its id."""
    with wired() as backbeat:
        org = backbeat.admin.create_organization(name, is_admin=admin)
        emit(as_json, {"id": str(org.id), "name": org.name, "admin": org.is_admin}, str(org.id))


@orgs_app.command("add-member")
def orgs_add_member(org: OrgOption, account: AccountOption, as_json: JsonFlag = False) -> None:
    """Add an account to an organization."""
    with wired() as backbeat:
        added = backbeat.admin.add_member(org, account)
        line = "added" if added else "already a member"
        emit(
            as_json, {"organization_id": str(org), "account_id": str(account), "added": added}, line
        )


@artists_app.command("create")
def artists_create(
    name: Annotated[str, typer.Option()],
    account: Annotated[
        UUID | None, typer.Option("--account", parser=parse_uuid("--account"))
    ] = None,
    org: Annotated[UUID | None, typer.Option("--org", parser=parse_uuid("--org"))] = None,
    profile: Annotated[
        str | None, typer.Option(help="JSON object: genres, bio, links… given to the model.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an artist owned by an account or an organization; prints its id."""
    details: dict[str, Any] = {}
    if profile is not None:
        try:
            details = json.loads(profile)
        except json.JSONDecodeError as exc:
            raise fail(f"--profile is not JSON: {exc}") from None
        if not isinstance(details, dict):
            raise fail("--profile must be a JSON object")
    with wired() as backbeat:
        artist = backbeat.admin.create_artist(
            name, account_id=account, organization_id=org, profile=details
        )
        emit(as_json, {"id": str(artist.id), "name": artist.name}, str(artist.id))


@keys_app.command("create")
def keys_create(
    account: AccountOption,
    name: Annotated[str | None, typer.Option(help="A label to tell keys apart.")] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; prints it once (only its HMAC is stored)."""
    with wired() as backbeat:
        expires_at = None
        if expires_in_days is not None:
            expires_at = backbeat.clock.now() + timedelta(days=expires_in_days)
        issued = backbeat.admin.create_key(account, name=name, expires_at=expires_at)
        record = {
            "id": str(issued.key.id),
            "key": issued.secret_value,
            "account_id": str(account),
            "expires_at": None if expires_at is None else iso_utc(expires_at),
        }
        emit(as_json, record, issued.secret_value)
        if not as_json:
            typer.echo(
                f"key id {issued.key.id}: store the key now, it is not shown again", err=True
            )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[UUID, typer.Argument(parser=parse_uuid("KEY_ID"))]) -> None:
    """Revoke an API key by its id; requests with it answer 401 from now on."""
    with wired() as backbeat:
        backbeat.admin.revoke_key(key_id)
        typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(account: AccountOption, as_json: JsonFlag = False) -> None:
    """List an account's keys (ids and hints, never the keys)."""
    with wired() as backbeat:
        now = datetime.now(UTC)
        for key in backbeat.admin.list_keys(account):
            state = "active" if key.usable_at(now) else "revoked" if key.revoked_at else "expired"
            record = {"id": str(key.id), "hint": key.hint, "name": key.name, "state": state}
            emit(as_json, record, f"{key.id}  {key.hint}…  {state}  {key.name or ''}")


@app.command()
def doctor(as_json: JsonFlag = False) -> None:
    """Check the configuration and what it depends on: one line per check, with what to fix.

    The database (reachable, migrated), the server secret, each configured model provider (a
    1-token request), SMTP (connect and log in; nothing is sent), the clock against the
    database's, and PostgreSQL's max_connections. Exits 1 when a check fails.
    """
    from pydantic import ValidationError

    from backbeat import doctor as checkup

    try:
        config = settings()
    except ValidationError as exc:
        checks = [checkup.settings_failure(exc)]
    else:
        logs.configure("WARNING", config.log_format, config.secret_values())
        checks = checkup.run_checks(config)
    if as_json:
        typer.echo(
            json.dumps({"ok": not checkup.failed(checks), "checks": [c.to_json() for c in checks]})
        )
    else:
        for check in checks:
            typer.echo(check.line())
        typer.echo(checkup.summary(checks), err=True)
    if checkup.failed(checks):
        raise typer.Exit(1)


def main() -> None:
    app()


# `backbeat tasks …` and `backbeat runs …` live in their own module, which adds them to `app`.
from backbeat import cli_tasks  # noqa: E402, F401
