"""Many identical tasks, quickly, for the scheduler's PostgreSQL stress tests."""

from __future__ import annotations

from dataclasses import asdict, replace
from uuid import uuid4

from sqlalchemy import insert

from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.store.tables import tasks
from backbeat.wiring import Backbeat
from tests.conftest import Tenant


def create_identical_tasks(backbeat: Backbeat, tenant: Tenant, count: int, schedule: str) -> None:
    """`count` tasks on one cron, so they all fall due at the same instants.

    The first is created through the service; the rest are copies of it inserted in one
    statement, because a thousand service calls would take seconds of a test's budget.
    """
    caller = Caller(tenant.account_id, tenant.key_id(backbeat))
    draft = TaskDraft("Pulse 0", "Analyse genre trends", schedule, tenant.artist_id)
    first = backbeat.tasks.create(caller, draft).task
    copies = [asdict(replace(first, id=uuid4(), title=f"Pulse {n}")) for n in range(1, count)]
    with backbeat.engine.begin() as connection:
        connection.execute(insert(tasks), copies)  # a Task's fields are its columns
