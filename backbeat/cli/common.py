"""What every CLI command shares: the database option, settings, wiring with one-line errors,
output helpers and argument parsers."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any
from uuid import UUID

import typer

from backbeat.config import ConfigurationError, Settings
from backbeat.domain.errors import BackbeatError, DatabaseUnavailable
from backbeat.ops import logs, metrics
from backbeat.ops.logs import redacted_url
from backbeat.store import migrate as migrations
from backbeat.wiring import Backbeat, build

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


def main_options(database_url: DatabaseUrl = None) -> None:
    """Options for every command."""
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
        # A long-running service counts where /metrics (of any process on the host) reads.
        counted = metrics.configure(config.metrics_dir) if service else None
        backbeat = build(config, metrics=counted)
        if needs_secret:  # read now (on SQLite: created now), not at the first request
            logs.REDACT.add([backbeat.settings.secret.decode()])
        if check_schema:
            ensure_schema(backbeat)
        yield backbeat
    except ConfigurationError as exc:
        raise fail(str(exc), 2) from None
    except BackbeatError as exc:
        raise fail(exc.message) from None
    except DatabaseUnavailable as exc:
        url = redacted_url(backbeat.settings.database_url if backbeat else "the database")
        raise fail(f"cannot use the database {url}: {exc.reason}", 2) from None
    finally:
        if backbeat is not None:
            backbeat.close()


def ensure_schema(backbeat: Backbeat) -> None:
    """The embedded SQLite default migrates itself; elsewhere `backbeat migrate` comes first.

    A schema newer than this code (a rolling upgrade migrated it) is fine: migrations only
    add, so this process runs on it, and says so.
    """
    schema = migrations.read_schema(backbeat.engine)
    if schema.state == "current":
        return
    if schema.state == "ahead":
        logging.getLogger("backbeat").warning(
            "the database schema is newer than this Backbeat: running on it (rolling upgrade)",
            extra={
                "event": "schema.newer",
                "revision": schema.revision,
                "head": schema.head,
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
