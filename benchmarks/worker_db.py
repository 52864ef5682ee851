"""The worker benchmarks' database, PostgreSQL or SQLite alike: tasks and runs in bulk, the
runs that have ended, the attempts read back. Imported as `worker_db` (each script's own
folder is on sys.path when it runs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from sqlalchemy import Engine, delete, func, insert, select, text

from backbeat.domain.dispatch import new_run
from backbeat.domain.models import Task
from backbeat.domain.runs import FINAL_STATUSES, Trigger
from backbeat.services.tasks import TaskDraft
from backbeat.store.engine import make_engine
from backbeat.store.tables import attempts, deliveries, delivery_tries, runs
from backbeat.store.tables import tasks as tasks_table
from backbeat.wiring import Backbeat, run_defaults
from common import Tenant

PAGE = 1000
FINAL = sorted(status.value for status in FINAL_STATUSES)


@contextmanager
def engine_for(url: str) -> Iterator[Engine]:
    engine = make_engine(url, pool_size=1)
    try:
        yield engine
    finally:
        engine.dispose()


def empty_work(url: str) -> None:
    """Forget the previous case's tasks and runs (on PostgreSQL TRUNCATE: no dead rows left in
    the indexes the claim query reads). Only while no worker runs."""
    with engine_for(url) as engine, engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("TRUNCATE attempts, delivery_tries, deliveries, runs, tasks"))
            return
        for table in (attempts, delivery_tries, deliveries, runs, tasks_table):
            connection.execute(delete(table))


def create_tasks(backbeat: Backbeat, tenant: Tenant, count: int) -> list[Task]:
    """`count` tasks with distinct prompts: the first through the service, the rest copies of
    it inserted in bulk (thousands of service calls would take most of the budget)."""
    draft = TaskDraft("Bench 0", "Weekly report #0", "0 9 * * *", tenant.artist_id)
    first = backbeat.tasks.create(tenant.caller, draft).task
    copies = [
        replace(first, id=uuid4(), title=f"Bench {n}", prompt=f"Weekly report #{n}")
        for n in range(1, count)
    ]
    with backbeat.engine.begin() as connection:
        for start in range(0, len(copies), PAGE):
            page = copies[start : start + PAGE]
            connection.execute(insert(tasks_table), [asdict(task) for task in page])
    return [first, *copies]


def queue_runs(
    backbeat: Backbeat, tasks: Sequence[Task], count: int, *, fired: timedelta = timedelta(0)
) -> tuple[datetime, set[str]]:
    """`count` runs over the tasks, all due now, in one transaction, as a scheduler tick
    queues them: every run has the same created_at and available_at. Answers the instant
    they became visible and the ids queued."""
    now = backbeat.clock.now()
    defaults = run_defaults(backbeat.settings)
    runs = [
        new_run(
            tasks[number % len(tasks)],
            trigger=Trigger.SCHEDULED,
            created_at=now,
            defaults=defaults,
            # A task's runs are distinct fires: (task, fire time) is unique.
            fire_at=now - fired - timedelta(minutes=number // len(tasks)),
        )
        for number in range(count)
    ]
    added: set[str] = set()
    with backbeat.uow(write=True) as uow:
        for start in range(0, len(runs), PAGE):
            added |= uow.runs.add_many(runs[start : start + PAGE])
        uow.commit()
    return datetime.now(UTC), added


def count_ended(engine: Engine) -> int:
    """Runs in a final state, read in a transaction of its own (SQLite reads a snapshot)."""
    with engine.connect() as connection:
        query = select(func.count()).where(runs.c.status.in_(FINAL))
        return int(connection.execute(query).scalar_one())


@dataclass(frozen=True)
class AttemptRow:
    run_id: str
    run_status: str
    attempt_count: int
    output_text: str | None
    number: int | None
    status: str | None
    worker_id: str | None
    started_at: datetime | None
    completed_at: datetime | None


def load_attempts(url: str, run_ids: set[str]) -> list[AttemptRow]:
    """Each run with its attempts (a run without any: one row of Nones), by run and number."""
    query = (
        select(
            runs.c.id,
            runs.c.status,
            runs.c.attempt_count,
            runs.c.output,
            attempts.c.number,
            attempts.c.status,
            attempts.c.worker_id,
            attempts.c.started_at,
            attempts.c.completed_at,
        )
        .select_from(runs.outerjoin(attempts, attempts.c.run_id == runs.c.id))
        .order_by(runs.c.id, attempts.c.number)
    )
    found: list[AttemptRow] = []
    ids = sorted(run_ids)
    with engine_for(url) as engine, engine.connect() as connection:
        for start in range(0, len(ids), PAGE):
            page = query.where(runs.c.id.in_(ids[start : start + PAGE]))
            for row in connection.execute(page):
                output = (row[3] or {}).get("text")
                found.append(AttemptRow(row[0], row[1], row[2], output, *row[4:]))
    return sorted(found, key=lambda row: (row.run_id, row.number or 0))
