"""Tasks, and the scheduler's view of them, in memory (the contracts of domain.ports, as
backbeat/store/tasks.py keeps them on SQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from backbeat.domain.models import Task
from backbeat.testing.memory_tables import Tables, Transaction, instant, require, stored


def _created(task: Task) -> tuple[datetime, UUID]:
    return task.created_at, task.id


def _row(task: Task) -> Task:
    """The task as stored: instants in UTC, its scope a tuple (a JSON list on SQL)."""
    row = stored(task)
    scope = row.scope_organization_ids
    return row if scope is None else replace(row, scope_organization_ids=tuple(scope))


def _check_references(tables: Tables, row: Task) -> None:
    require(row.account_id in tables.accounts, f"no account {row.account_id}")
    require(row.artist_account_id in tables.artists, f"no artist {row.artist_account_id}")


class MemoryTaskRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, task: Task) -> None:
        row = _row(task)
        tables = self._tx.write()
        require(row.id not in tables.tasks, f"task {row.id} exists")
        _check_references(tables, row)
        tables.tasks[row.id] = row

    def get(self, task_id: UUID, *, for_update: bool = False) -> Task | None:
        # `for_update` needs nothing more here: writers take turns (see memory_store).
        return self._tx.read().tasks.get(task_id)

    def update(self, task: Task) -> None:
        row = _row(task)
        tables = self._tx.write()
        if row.id in tables.tasks:
            _check_references(tables, row)
            tables.tasks[row.id] = row

    def delete(self, task_id: UUID) -> bool:
        tables = self._tx.write()
        if tables.tasks.pop(task_id, None) is None:
            return False
        # ON DELETE SET NULL: the task's runs stay readable.
        for run in list(tables.runs.values()):
            if run.task_id == task_id:
                tables.runs[run.id] = replace(run, task_id=None)
        return True

    def list_for_account(
        self,
        account_id: UUID,
        *,
        task_id: UUID | None = None,
        artist_account_id: UUID | None = None,
        enabled: bool | None = None,
        limit: int | None = None,
        before: tuple[datetime, UUID] | None = None,
    ) -> list[Task]:
        found = [
            each
            for each in self._tx.read().tasks.values()
            if each.account_id == account_id
            and (task_id is None or each.id == task_id)
            and (artist_account_id is None or each.artist_account_id == artist_account_id)
            # None means "no override", which counts as enabled.
            and (enabled is None or each.is_active is enabled)
            and (before is None or _created(each) < before)
        ]
        return sorted(found, key=_created, reverse=True)[:limit]

    def titles(self, task_ids: Iterable[UUID]) -> dict[UUID, str]:
        tasks = self._tx.read().tasks
        return {each: tasks[each].title for each in set(task_ids) if each in tasks}

    def count_active(self, account_id: UUID, *, excluding: UUID | None = None) -> int:
        return sum(
            1
            for each in self._tx.read().tasks.values()
            if each.account_id == account_id and each.is_active and each.id != excluding
        )

    def active_before(self, task_ids: Sequence[UUID]) -> dict[UUID, int]:
        tasks = self._tx.read().tasks
        ranks: dict[UUID, int] = {}
        for task_id in set(task_ids):
            mine = tasks.get(task_id)
            if mine is None or not mine.is_active:
                continue
            ranks[task_id] = sum(
                1
                for other in tasks.values()
                if other.account_id == mine.account_id
                and other.is_active
                and _created(other) < _created(mine)
            )
        return ranks


class MemoryScheduleRepository:
    """Claims lock nothing: the memory store's writers take turns, as SQLite's do, and the
    compare-and-set in `advance` and the runs' unique key do the rest."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def claim_due(self, now: datetime, limit: int) -> list[Task]:
        when = instant(now)
        due = [
            each
            for each in self._tx.read().tasks.values()
            if each.is_active and each.next_fire_at is not None and each.next_fire_at <= when
        ]
        due.sort(key=lambda each: (each.next_fire_at, each.id))
        return due[:limit]

    def advance(self, moves: Sequence[tuple[UUID, datetime, datetime | None]]) -> int:
        checked = [
            (task_id, instant(old), None if new is None else instant(new))
            for task_id, old, new in moves
        ]
        if not checked:
            return 0
        tables = self._tx.write()
        moved = 0
        for task_id, old, new in checked:
            task = tables.tasks.get(task_id)
            if task is not None and task.next_fire_at == old:
                tables.tasks[task_id] = replace(task, next_fire_at=new)
                moved += 1
        return moved

    def earliest_due(self) -> datetime | None:
        due = [
            each.next_fire_at
            for each in self._tx.read().tasks.values()
            if each.is_active and each.next_fire_at is not None
        ]
        return min(due, default=None)
