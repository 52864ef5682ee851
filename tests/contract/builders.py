"""Builders for the persistence contract suite: entities with every field filled in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import Engine, Table, func, select

from backbeat.domain.deliveries import Channel, Delivery, DeliveryStatus
from backbeat.domain.ids import new_attempt_id, new_delivery_id, new_run_id
from backbeat.domain.models import Account, ApiKey, Artist, Attempt, Organization, Run, Task
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger
from backbeat.domain.webhooks import Endpoint, EventType
from backbeat.store.uow import SqlUnitOfWork
from backbeat.testing.memory_store import MemoryUnitOfWork

# A fixed instant with microseconds, so precision losses show up.
T0 = datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC)

BACKENDS = ["sqlite", "postgresql", "memory"]
# For a test that needs a real SQL database (it reads SQL, or checks what only a database
# does): it runs on SQLite and PostgreSQL, not on the memory store.
sql_only = pytest.mark.parametrize("backend", ["sqlite", "postgresql"], indirect=True)

ContractUow = SqlUnitOfWork | MemoryUnitOfWork
UowFactory = Callable[..., ContractUow]


class SqlUowFactory:
    """The SQL backends' `uow`: units of work on one engine, which it carries so that a test
    helper can read the database beside them (`count_rows`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def __call__(self, *, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)


@dataclass
class World:
    """An account owning an artist, ready for tasks and runs."""

    account: Account
    artist: Artist


def at(seconds: float = 0) -> datetime:
    return T0 + timedelta(seconds=seconds)


def account(email: str | None = None, *, created: float = 0, name: str | None = "A") -> Account:
    return Account(id=uuid4(), email=email, name=name, created_at=at(created))


def organization(name: str = "Org", *, is_admin: bool = False, created: float = 0) -> Organization:
    return Organization(id=uuid4(), name=name, is_admin=is_admin, created_at=at(created))


def artist(
    *,
    account_id: UUID | None = None,
    organization_id: UUID | None = None,
    profile: dict[str, Any] | None = None,
) -> Artist:
    return Artist(
        id=uuid4(),
        name="Artist",
        account_id=account_id,
        organization_id=organization_id,
        profile=profile if profile is not None else {},
        created_at=T0,
    )


def api_key(account_id: UUID, *, created: float = 0, **fields: Any) -> ApiKey:
    values: dict[str, Any] = {
        "id": uuid4(),
        "account_id": account_id,
        "name": "laptop",
        "hint": "bb_abcd",
        "created_at": at(created),
        "expires_at": None,
        "revoked_at": None,
    }
    values.update(fields)
    return ApiKey(**values)


def task(
    account_id: UUID,
    artist_id: UUID,
    *,
    created: float = 0,
    task_id: UUID | None = None,
    **fields: Any,
) -> Task:
    values: dict[str, Any] = {
        "id": task_id or uuid4(),
        "account_id": account_id,
        "artist_account_id": artist_id,
        "title": "Weekly pulse",
        "prompt": "Summarise the week.",
        "schedule": "0 9 * * 4",
        "timezone": "UTC",
        "enabled": None,
        "model": None,
        "created_at": at(created),
        "updated_at": at(created),
        "next_fire_at": None,
    }
    values.update(fields)
    return Task(**values)


def run(
    account_id: UUID,
    task_id: UUID | None,
    *,
    created: float = 0,
    run_id: str | None = None,
    **fields: Any,
) -> Run:
    values: dict[str, Any] = {
        "id": run_id or new_run_id(),
        "task_id": task_id,
        "account_id": account_id,
        "artist_account_id": None,
        "task_identifier": "weekly-pulse",
        "status": RunStatus.QUEUED,
        "trigger": Trigger.MANUAL,
        "trigger_function": "manual",
        "idempotency_key": None,
        "scheduled_for": None,
        "is_test": False,
        "created_at": at(created),
        "updated_at": at(created),
        "max_attempts": 3,
    }
    values.update(fields)
    return Run(**values)


def add_runs(uow: UowFactory, world: World, *statuses: RunStatus) -> list[Run]:
    """One run of the world's account in each of these states, committed."""
    runs = [run(world.account.id, None, status=status) for status in statuses]
    with uow(write=True) as u:
        for item in runs:
            u.runs.add(item)
        u.commit()
    return runs


def delivery(run_id: str, recipient: str, *, created: float = 0, **fields: Any) -> Delivery:
    values: dict[str, Any] = {
        "id": new_delivery_id(),
        "run_id": run_id,
        "channel": Channel.EMAIL,
        "recipient": recipient,
        "address": recipient.title(),
        "subject": "Pulse",
        "body": "Body",
        "status": DeliveryStatus.PENDING,
        "created_at": at(created),
        "updated_at": at(created),
    }
    values.update(fields)
    return Delivery(**values)


def endpoint(account_id: UUID, *, created: float = 0, **fields: Any) -> Endpoint:
    values: dict[str, Any] = {
        "id": f"whep_{uuid4().hex}",
        "account_id": account_id,
        "url": "https://hooks.example.com/backbeat?token=abc",
        "events": (EventType.RUN_FAILED, EventType.RUN_COMPLETED),
        "secret": "sealed:current",
        "created_at": at(created),
        "updated_at": at(created),
    }
    values.update(fields)
    return Endpoint(**values)


def insert_attempt(uow: ContractUow, run_id: str, number: int, **fields: Any) -> Attempt:
    values: dict[str, Any] = {
        "id": new_attempt_id(),
        "run_id": run_id,
        "number": number,
        "status": AttemptStatus.FAILED,
        "created_at": at(number),
        "updated_at": at(number),
    }
    values.update(fields)
    attempt = Attempt(**values)
    uow.work.add_attempt(attempt)
    return attempt


# The memory store's name for each table the tests count.
_MEMORY_TABLES = {
    "runs": "runs",
    "dashboard_sessions": "sessions",
    "delivery_tries": "delivery_tries",
    "webhook_endpoints": "webhooks",
}


def count_rows(uow: UowFactory, table: Table) -> int:
    """How many committed rows the table holds: on SQL through the factory's engine (a unit
    of work keeps its connection to itself), in memory through a unit of work of its own."""
    if isinstance(uow, SqlUowFactory):
        with uow.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())
    with uow() as u:
        assert isinstance(u, MemoryUnitOfWork)
        return len(getattr(u.read(), _MEMORY_TABLES[table.name]))


def assert_utc(entity: Any) -> None:
    """Every instant an entity carries comes back in UTC."""
    for name in entity.__slots__:
        value = getattr(entity, name)
        if isinstance(value, datetime):
            assert value.tzinfo is UTC, f"{name} is {value!r}"
