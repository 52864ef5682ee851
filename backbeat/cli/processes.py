"""The long-running processes and the operator's commands: version, migrate, serve, worker,
scheduler, doctor."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from backbeat import __version__
from backbeat.cli.common import JsonFlag, settings, wired
from backbeat.config import Settings
from backbeat.ops import logs
from backbeat.ops.logs import redacted_url
from backbeat.runtime import Background, provider_notice
from backbeat.scheduler.loop import SchedulerLoop
from backbeat.store import migrate as migrations
from backbeat.store.engine import make_engine
from backbeat.wiring import Backbeat, build_worker, warn_if_rerouted

app = typer.Typer()


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
        before = migrations.read_schema(engine)
        if before.state == "ahead":  # a newer release migrated it: nothing here to apply
            typer.echo(
                f"database at revision {before.revision}, newer than this Backbeat's head "
                f"{before.head}: nothing to migrate"
            )
            return
        migrations.upgrade(engine)
        after = migrations.current_revision(engine)
    finally:
        engine.dispose()
    typer.echo(f"database at revision {after} (was {before.revision or 'empty'})")


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

    from backbeat.asgi import create_app

    with wired(needs_secret=True, service=True) as backbeat:
        config = settings(host=host, port=port)
        backbeat.settings = config
        announce(backbeat, config)
        if worker:
            typer.echo(provider_notice(config))
        warn_if_rerouted(config)
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
                log_config=None,  # uvicorn logs through backbeat.ops.logs like everything else
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
        typer.echo(
            f"Backbeat {__version__} worker on {redacted_url(backbeat.settings.database_url)}"
        )
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
            f"Backbeat {__version__} scheduler on {redacted_url(backbeat.settings.database_url)}"
        )
        loop.run()


def announce(backbeat: Backbeat, config: Settings) -> None:
    command = _invocation()
    where = f"http://{config.host}:{config.port}"
    typer.echo(f"Backbeat {__version__} listening on {where}")
    typer.echo(f"Dashboard: {where}/   API docs: {where}/docs   Metrics: {where}/metrics")
    typer.echo(f"Database: {redacted_url(config.database_url)}")
    if not backbeat.admin.any_keys():
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


@app.command()
def doctor(as_json: JsonFlag = False) -> None:
    """Check the configuration and what it depends on: one line per check, with what to fix.

    The database (reachable, migrated), the server secret, each configured model provider (a
    1-token request), SMTP (connect and log in; nothing is sent), the clock against the
    database's, and PostgreSQL's max_connections. Exits 1 when a check fails.
    """
    from pydantic import ValidationError

    from backbeat.ops import doctor as checkup

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
