"""Runs, their attempts and the worker's view of them, in memory (the contracts of
domain.ports, as backbeat/store/runs.py and work.py keep them on SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from backbeat.domain.errors import ConcurrentChange, InvalidInput
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import CLAIMABLE_STATUSES, AttemptStatus, QueueDepth, RunStatus
from backbeat.testing.memory_tables import (
    Tables,
    Transaction,
    fresh,
    instant,
    require,
    stored,
)

_JSON = ("tags", "metadata", "payload", "output", "error")
_UNFINISHED = CLAIMABLE_STATUSES | {RunStatus.EXECUTING}
_MAX_RUN_ID_LENGTH = 100  # run ids have 30 characters


def _row(run: Run) -> Run:
    """The run as its row keeps it: no attempts, deliveries or title (other tables')."""
    return replace(stored(run, *_JSON), attempts=[], deliveries=[], task_title=None)


def _created(run: Run) -> tuple[datetime, str]:
    return run.created_at, run.id


def _light(run: Run) -> Run:
    """A run as listings carry it: without payload, output and error."""
    return replace(fresh(run, "tags", "metadata"), payload=None, output=None, error=None)


def _listed(run: Run) -> Run:
    """A run as a task's recent runs show it: a listing without the worker's bookkeeping."""
    return replace(
        _light(run),
        available_at=None,
        lease_owner=None,
        lease_expires_at=None,
        lease_token=None,
        concurrency_key=None,
    )


class _UniqueKeys:
    """The runs' unique keys in use (but one run's, when saving it): one per (task, fire
    time), one per idempotency key, one executing run per concurrency key."""

    def __init__(self, runs: dict[str, Run], *, but: str | None = None) -> None:
        self._fires: set[tuple[UUID, datetime]] = set()
        self._idempotency: set[str] = set()
        self._executing: set[str] = set()
        for row in runs.values():
            if row.id != but:
                self.add(row)

    def clash(self, row: Run) -> str | None:
        """Which key of another run this row would share, if any."""
        fire = _fire(row)
        if fire is not None and fire in self._fires:
            return f"task {row.task_id} has a run for {row.scheduled_for}"
        if row.idempotency_key is not None and row.idempotency_key in self._idempotency:
            return f"a run has the idempotency key {row.idempotency_key}"
        key = _executing_key(row)
        if key is not None and key in self._executing:
            return f"another run with the key {key} is executing"
        return None

    def add(self, row: Run) -> None:
        fire, key = _fire(row), _executing_key(row)
        if fire is not None:
            self._fires.add(fire)
        if row.idempotency_key is not None:
            self._idempotency.add(row.idempotency_key)
        if key is not None:
            self._executing.add(key)


def _fire(row: Run) -> tuple[UUID, datetime] | None:
    # NULLs never collide in a unique key, on either database.
    if row.task_id is None or row.scheduled_for is None:
        return None
    return row.task_id, row.scheduled_for


def _executing_key(row: Run) -> str | None:
    return row.concurrency_key if row.status is RunStatus.EXECUTING else None


def _check_references(tables: Tables, row: Run) -> None:
    require(row.account_id in tables.accounts, f"no account {row.account_id}")
    require(row.task_id is None or row.task_id in tables.tasks, f"no task {row.task_id}")


def _usable_cursor(before: tuple[datetime, str]) -> tuple[datetime, str]:
    """The `before` position, or InvalidInput for one no server gave out (as on SQL)."""
    created_at, run_id = before
    invalid = InvalidInput("cursor is not a cursor this server gave out", ["cursor"])
    if "\x00" in run_id or len(run_id) > _MAX_RUN_ID_LENGTH:
        raise invalid
    if created_at.tzinfo is None:
        return instant(created_at), run_id  # a programming error: refused
    try:
        return created_at.astimezone(UTC), run_id
    except (OverflowError, ValueError):
        raise invalid from None


class MemoryRunRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, run: Run) -> bool:
        return bool(self.add_many([run]))

    def add_many(self, runs: Sequence[Run]) -> set[str]:
        rows = [_row(run) for run in runs]
        tables = self._tx.write()
        keys = _UniqueKeys(tables.runs)
        # Checked first, put in place at the end: a refused statement writes nothing.
        added: dict[str, Run] = {}
        for row in rows:
            # A collision is skipped (ON CONFLICT DO NOTHING); a missing reference is not.
            if row.id in tables.runs or row.id in added or keys.clash(row) is not None:
                continue
            _check_references(tables, row)
            keys.add(row)
            added[row.id] = row
        tables.runs.update(added)
        return set(added)

    def get(self, run_id: str) -> Run | None:
        tables = self._tx.read()
        row = tables.runs.get(run_id)
        if row is None:
            return None
        found = [fresh(each, "error") for each in tables.attempts.values() if each.run_id == run_id]
        return replace(fresh(row, *_JSON), attempts=sorted(found, key=lambda each: each.number))

    def recent_by_task(self, task_ids: Sequence[UUID], per_task: int) -> dict[UUID, list[Run]]:
        found: dict[UUID, list[Run]] = {task_id: [] for task_id in task_ids}
        for row in sorted(self._tx.read().runs.values(), key=_created, reverse=True):
            listed = None if row.task_id is None else found.get(row.task_id)
            if listed is not None and len(listed) < per_task:
                listed.append(_listed(row))
        return found

    def recent_statuses(self, task_id: UUID, limit: int) -> list[tuple[str, RunStatus]]:
        newest = sorted(self._tx.read().runs.values(), key=_created, reverse=True)
        return [(row.id, row.status) for row in newest if row.task_id == task_id][:limit]

    def cost_since(self, account_id: UUID, since: datetime) -> float:
        when = instant(since)
        return float(
            sum(
                run.cost_in_cents
                for run in self._tx.read().runs.values()
                if run.account_id == account_id and run.created_at >= when
            )
        )

    def list_for_account(
        self,
        account_id: UUID,
        *,
        limit: int,
        task_id: UUID | None = None,
        status: RunStatus | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> list[Run]:
        cursor = None if before is None else _usable_cursor(before)
        found = [
            row
            for row in self._tx.read().runs.values()
            if row.account_id == account_id
            and (task_id is None or row.task_id == task_id)
            and (status is None or row.status is status)
            and (cursor is None or _created(row) < cursor)
        ]
        found.sort(key=_created, reverse=True)
        return [_light(row) for row in found[:limit]]


class MemoryWorkRepository:
    """Locks nothing: the memory store's writers take turns (see memory_store)."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def claimable(self, now: datetime, limit: int, *, skip: Sequence[str] = ()) -> list[Run]:
        when = instant(now)
        runs = self._tx.read().runs.values()
        executing = {r.concurrency_key for r in runs if r.status is RunStatus.EXECUTING}
        # First in line per key: a later run waits for the earlier ones still waiting.
        first: dict[str, tuple[datetime, str]] = {}
        for row in runs:
            key = row.concurrency_key
            if key is not None and row.status in CLAIMABLE_STATUSES:
                first[key] = min(first.get(key, _created(row)), _created(row))
        ready = [
            row
            for row in runs
            if row.status in CLAIMABLE_STATUSES
            and row.available_at is not None
            and row.available_at <= when
            and row.id not in skip
            and (
                row.concurrency_key is None
                or (
                    row.concurrency_key not in executing
                    and first[row.concurrency_key] == _created(row)
                )
            )
        ]
        ready.sort(key=lambda row: (row.available_at, row.id))
        return [fresh(row, *_JSON) for row in ready[:limit]]

    def unfinished_of_task(self, task_id: UUID) -> list[Run]:
        found = [
            row
            for row in self._tx.read().runs.values()
            if row.task_id == task_id and row.status in _UNFINISHED
        ]
        return [fresh(row, *_JSON) for row in sorted(found, key=_created)]

    def get_for_update(self, run_id: str) -> Run | None:
        row = self._tx.read().runs.get(run_id)
        return None if row is None else fresh(row, *_JSON)

    def save(self, run: Run) -> None:
        row = _row(run)
        tables = self._tx.write()
        if row.id not in tables.runs:
            return
        clash = _UniqueKeys(tables.runs, but=row.id).clash(row)
        if clash is not None:
            raise ConcurrentChange(clash)
        _check_references(tables, row)
        tables.runs[row.id] = row

    def add_attempt(self, attempt: Attempt) -> None:
        row = stored(attempt, "error")
        tables = self._tx.write()
        require(row.id not in tables.attempts, f"attempt {row.id} exists")
        self._check_attempt(tables, row)
        tables.attempts[row.id] = row

    def save_attempt(self, attempt: Attempt) -> None:
        row = stored(attempt, "error")
        tables = self._tx.write()
        if row.id in tables.attempts:
            self._check_attempt(tables, row)
            tables.attempts[row.id] = row

    @staticmethod
    def _check_attempt(tables: Tables, row: Attempt) -> None:
        require(row.run_id in tables.runs, f"no run {row.run_id}")
        taken = any(
            (each.run_id, each.number) == (row.run_id, row.number) and each.id != row.id
            for each in tables.attempts.values()
        )
        require(not taken, f"run {row.run_id} has an attempt {row.number}")

    def current_attempt(self, run_id: str) -> Attempt | None:
        found = [each for each in self._tx.read().attempts.values() if each.run_id == run_id]
        latest = max(found, key=lambda each: each.number, default=None)
        return None if latest is None else fresh(latest, "error")

    def failed_attempts(self, run_id: str) -> int:
        return sum(
            1
            for each in self._tx.read().attempts.values()
            if each.run_id == run_id and each.status is AttemptStatus.FAILED
        )

    def renew(self, lease_tokens: Sequence[str], until: datetime) -> set[str]:
        when = instant(until)
        if not lease_tokens:
            return set()
        tables = self._tx.write()
        held: set[str] = set()
        for row in list(tables.runs.values()):
            token = row.lease_token
            if token is not None and token in lease_tokens and row.status is RunStatus.EXECUTING:
                tables.runs[row.id] = replace(row, lease_expires_at=when)
                held.add(token)
        return held

    def expired(self, now: datetime, limit: int, *, keep: Sequence[str] = ()) -> list[Run]:
        when = instant(now)
        found = [
            row
            for row in self._tx.read().runs.values()
            if row.status is RunStatus.EXECUTING
            and row.lease_expires_at is not None
            and row.lease_expires_at < when
            # A run without a token (an older release claimed it) is never kept.
            and (row.lease_token is None or row.lease_token not in keep)
        ]
        found.sort(key=lambda row: (row.lease_expires_at, row.id))
        return [fresh(row, *_JSON) for row in found[:limit]]

    def next_available(self) -> datetime | None:
        return min(
            (
                row.available_at
                for row in self._tx.read().runs.values()
                if row.status in CLAIMABLE_STATUSES and row.available_at is not None
            ),
            default=None,
        )

    def previous_outputs(self, task_id: UUID, before: datetime, limit: int) -> list[dict[str, Any]]:
        when = instant(before)
        found = [
            row
            for row in self._tx.read().runs.values()
            if row.task_id == task_id
            and row.status is RunStatus.COMPLETED
            and row.created_at < when
        ]
        found.sort(key=_created, reverse=True)
        return [
            {
                "run_id": row.id,
                "fire_time": None if row.scheduled_for is None else row.scheduled_for.isoformat(),
                "created_at": row.created_at.isoformat(),
                "output": (fresh(row, "output").output or {}).get("text", ""),
            }
            for row in found[:limit]
        ]

    def queue_depth(self, now: datetime) -> QueueDepth:
        when = instant(now)
        runs = self._tx.read().runs.values()
        due = [
            row.available_at
            for row in runs
            if row.status in CLAIMABLE_STATUSES
            and row.available_at is not None
            and row.available_at <= when
        ]
        executing = sum(1 for row in runs if row.status is RunStatus.EXECUTING)
        return QueueDepth(len(due), min(due, default=None), executing)
