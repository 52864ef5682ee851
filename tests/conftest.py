"""Shared fixtures. `db_url` runs a test on SQLite and on PostgreSQL (which never skips)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import Engine
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.config import Settings
from backbeat.ops.metrics import Metrics
from backbeat.store.engine import make_engine
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import FakeModelServer
from backbeat.testing.fake_slack import FakeSlack
from backbeat.wiring import Backbeat, build
from tests.databases import SqliteTemplate, postgres_database, truncate_all
from tests.webhook_receiver import Receiver, webhook_receiver

SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> SqliteTemplate:
    return SqliteTemplate(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    with postgres_database(migrated=True) as url:
        yield url


@pytest.fixture(scope="session")
def pg_engine(pg_session_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_session_url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: SqliteTemplate
) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_template.fresh(tmp_path)
        return
    engine: Engine = request.getfixturevalue("pg_engine")
    truncate_all(engine)
    yield request.getfixturevalue("pg_session_url")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: SqliteTemplate) -> str:
    return sqlite_template.fresh(tmp_path)


@pytest.fixture
def models() -> Iterator[FakeModelServer]:
    """A fake model server on loopback (Anthropic's and OpenAI's APIs), scripted by the test."""
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack incoming webhook on loopback that checks Slack's payload rules."""
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback that verifies signatures (tests.webhook_receiver)."""
    with webhook_receiver() as found:
        yield found


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC))  # a Monday


def make_backbeat(
    url: str, clock: FakeClock, *, metrics: Metrics | None = None, **settings: Any
) -> Backbeat:
    config = Settings(database_url=url, secret_key=SECRET, **settings)
    return build(config, clock=clock, metrics=metrics)


@pytest.fixture
def backbeat(db_url: str, clock: FakeClock) -> Iterator[Backbeat]:
    app = make_backbeat(db_url, clock)
    yield app
    app.close()


@dataclass
class Tenant:
    """An account with an artist and an API key."""

    account_id: UUID
    artist_id: UUID
    key: str
    email: str

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}

    def key_id(self, backbeat: Backbeat) -> UUID:
        [key] = [
            k for k in backbeat.admin.list_keys(self.account_id) if self.key.startswith(k.hint)
        ]
        return key.id


def make_tenant(backbeat: Backbeat, email: str) -> Tenant:
    account = backbeat.admin.create_account(email)
    artist = backbeat.admin.create_artist(f"Artist of {email}", account_id=account.id)
    issued = backbeat.admin.create_key(account.id)
    return Tenant(account.id, artist.id, issued.secret_value, email)


@pytest.fixture
def alice(backbeat: Backbeat) -> Tenant:
    return make_tenant(backbeat, "alice@example.com")


@pytest.fixture
def bob(backbeat: Backbeat) -> Tenant:
    return make_tenant(backbeat, "bob@example.com")


@pytest.fixture
def client(backbeat: Backbeat) -> Iterator[TestClient]:
    with TestClient(create_app(backbeat), raise_server_exceptions=False) as test_client:
        yield test_client


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first. They mostly wait on real processes and real time, so with
    parallel test processes (`make test` runs `pytest -n 4`) they overlap the rest of the
    suite instead of finishing it. `@pytest.mark.slow(seconds=…)` says roughly how long a
    test takes (10 s when it does not say)."""

    def expected_seconds(item: pytest.Item) -> float:
        marker = item.get_closest_marker("slow")
        if marker is None:
            return 0.0
        return float(marker.kwargs.get("seconds", 10.0))

    items.sort(key=expected_seconds, reverse=True)  # stable: otherwise in collection order
