"""CLI tests: `backbeat …` through Typer's runner, against a fresh migrated SQLite file.

The test's own Backbeat (a FakeClock at Monday 2026-01-05 12:00 UTC) and the CLI share the
database file. Each CLI invocation's clock starts (BACKBEAT_CLOCK_START) one second after the
previous one's, from that instant: what the CLI creates is ordered as it was created, and the
API and the CLI compute the same `upcoming` fire times for schedules that do not fire then.
`backbeat` is overridden here so the root fixtures (alice, bob, client) use that SQLite file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from backbeat.cli import app
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import SECRET, Tenant, make_backbeat

WEEKLY = "0 9 * * 1"  # Mondays 09:00: no fire near the tests' clock (Monday 12:00 UTC)


CLOCK_START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # the root `clock` fixture's instant


@dataclass
class Cli:
    env: dict[str, str | None]
    calls: int = field(default=0)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        self.calls += 1
        start = CLOCK_START + timedelta(seconds=self.calls)
        env = {**self.env, "BACKBEAT_CLOCK_START": start.isoformat()}
        result = CliRunner().invoke(app, list(args), env=env, input=input)
        assert "Traceback" not in result.output
        if result.exception is not None:
            assert isinstance(result.exception, SystemExit), result.exception
        return result

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def error(self, *args: str, code: int = 1) -> str:
        """The one-line message of a failing command (without `error: `)."""
        result = self(*args)
        assert result.exit_code == code, result.output
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ")
        return lines[0].removeprefix("error: ")


def create(cli: Cli, tenant: Tenant, *extra: str, title: str = "Weekly pulse") -> str:
    out = cli.ok(
        "tasks",
        "create",
        "--account",
        str(tenant.account_id),
        "--artist",
        str(tenant.artist_id),
        "--title",
        title,
        "--prompt",
        "Summarise the week.",
        "--schedule",
        WEEKLY,
        *extra,
    )
    return out.strip()


@pytest.fixture
def backbeat(sqlite_url: str, clock: FakeClock) -> Iterator[Backbeat]:
    app = make_backbeat(sqlite_url, clock)
    yield app
    app.close()


@pytest.fixture
def cli(sqlite_url: str) -> Cli:
    return Cli(
        env={
            "BACKBEAT_DATABASE_URL": sqlite_url,
            "BACKBEAT_SECRET_KEY": SECRET,
            "BACKBEAT_ACCOUNT": None,  # not from the developer's shell
        }
    )
