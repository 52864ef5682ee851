"""Runs and their attempts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Connection,
    Integer,
    String,
    Uuid,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite

from backbeat.domain.errors import InvalidInput
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import AttemptStatus, RunStatus, Trigger
from backbeat.store.tables import attempts, runs
from backbeat.store.wakeups import announce_runs

# What listings carry: everything but the heavy payload, output and error.
_LIGHT = [c for c in runs.c if c.name not in ("payload", "output", "error")]
# What a task's recent_runs show (a run as listed, without the worker's bookkeeping).
_LISTED = [
    c
    for c in _LIGHT
    if c.name
    not in ("available_at", "lease_owner", "lease_expires_at", "lease_token", "concurrency_key")
]
_SQLITE_MAX_IDS = 30_000
_IDS = postgresql.ARRAY(String)
_RECENT: dict[str, Any] = {}
_MAX_RUN_ID_LENGTH = 100  # run ids have 30 characters


def _usable_cursor(before: tuple[datetime, str]) -> tuple[datetime, str]:
    """The `before` position as both databases can compare it, or InvalidInput: a time that
    leaves the datetime range once read as UTC (year 1 at +14:00), or an id with a NUL
    (PostgreSQL refuses it even to compare) is no cursor this server gave out."""
    created_at, run_id = before
    invalid = InvalidInput("cursor is not a cursor this server gave out", ["cursor"])
    if "\x00" in run_id or len(run_id) > _MAX_RUN_ID_LENGTH:
        raise invalid
    if created_at.tzinfo is None:
        return before  # a programming error, refused by the column type (UTCDateTime)
    try:
        return created_at.astimezone(UTC), run_id
    except (OverflowError, ValueError):
        raise invalid from None


_RECENT_STATUSES = (
    select(runs.c.id, runs.c.status)
    .where(runs.c.task_id == bindparam("b_task_id"))
    .order_by(runs.c.created_at.desc(), runs.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)


def _recent_statement(dialect: str) -> Any:
    """Each task's newest runs, built once per dialect; bound: task_ids, per_task."""
    if dialect in _RECENT:
        return _RECENT[dialect]
    newest_first = (runs.c.created_at.desc(), runs.c.id.desc())
    if dialect == "postgresql":
        # An index range scan of at most `per_task` rows per task.
        task_ids = bindparam("task_ids", type_=postgresql.ARRAY(Uuid))
        ids = select(func.unnest(task_ids).label("task_id")).subquery("ids")
        newest = (
            select(*_LISTED)
            .where(runs.c.task_id == ids.c.task_id)
            .order_by(*newest_first)
            .limit(bindparam("per_task"))
            .lateral("newest")
        )
        statement = (
            select(newest)
            .select_from(ids.join(newest, true()))
            .order_by(newest.c.task_id, newest.c.created_at.desc(), newest.c.id.desc())
        )
    else:
        rank = func.row_number().over(partition_by=runs.c.task_id, order_by=newest_first)
        ranked = (
            select(*_LISTED, rank.label("rank"))
            .where(runs.c.task_id.in_(bindparam("task_ids", expanding=True)))
            .subquery()
        )
        statement = (
            select(*[ranked.c[c.name] for c in _LISTED])
            .where(ranked.c.rank <= bindparam("per_task"))
            .order_by(ranked.c.task_id, ranked.c.created_at.desc(), ranked.c.id.desc())
        )
    _RECENT[dialect] = statement
    return statement


def listed_run_from_row(row: Any) -> Run:
    """A run from a listing row (the _LISTED columns)."""
    return Run(
        id=row.id,
        task_id=row.task_id,
        account_id=row.account_id,
        artist_account_id=row.artist_account_id,
        task_identifier=row.task_identifier,
        status=RunStatus(row.status),
        trigger=Trigger(row.trigger),
        trigger_function=row.trigger_function,
        idempotency_key=row.idempotency_key,
        scheduled_for=row.scheduled_for,
        is_test=row.is_test,
        created_at=row.created_at,
        updated_at=row.updated_at,
        max_attempts=row.max_attempts,
        attempt_count=row.attempt_count,
        tags=list(row.tags or []),
        metadata=row.metadata,
        delayed_until=row.delayed_until,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=row.duration_ms,
        cost_in_cents=row.cost_in_cents,
        version=row.version,
    )


def run_from_row(row: Any, run_attempts: list[Attempt] | None = None) -> Run:
    """A run from a row of the runs table: the listing's fields, then the rest where selected
    (listings leave out payload, output and error)."""
    heavy = "payload" in row._mapping
    return replace(
        listed_run_from_row(row),
        payload=row.payload if heavy else None,
        output=row.output if heavy else None,
        error=row.error if heavy else None,
        available_at=row.available_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        lease_token=row.lease_token,
        concurrency_key=row.concurrency_key,
        attempts=run_attempts or [],
    )


def attempt_from_row(row: Any) -> Attempt:
    return Attempt(
        id=row.id,
        run_id=row.run_id,
        number=row.number,
        status=AttemptStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        error=row.error,
        worker_id=row.worker_id,
    )


def run_values(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "task_id": run.task_id,
        "account_id": run.account_id,
        "artist_account_id": run.artist_account_id,
        "task_identifier": run.task_identifier,
        "status": run.status.value,
        "trigger": run.trigger.value,
        "trigger_function": run.trigger_function,
        "idempotency_key": run.idempotency_key,
        "scheduled_for": run.scheduled_for,
        "is_test": run.is_test,
        "tags": run.tags,
        "metadata": run.metadata,
        "payload": run.payload,
        "output": run.output,
        "error": run.error,
        "max_attempts": run.max_attempts,
        "attempt_count": run.attempt_count,
        "available_at": run.available_at,
        "delayed_until": run.delayed_until,
        "lease_owner": run.lease_owner,
        "lease_expires_at": run.lease_expires_at,
        "lease_token": run.lease_token,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration_ms": run.duration_ms,
        "cost_in_cents": run.cost_in_cents,
        "version": run.version,
        "concurrency_key": run.concurrency_key,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    }


class SqlRunRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def _insert(self) -> Any:
        dialect = postgresql if self._db.dialect.name == "postgresql" else sqlite
        return dialect.insert(runs)

    def add(self, run: Run) -> bool:
        statement = (
            self._insert()
            .values(**run_values(run))
            .on_conflict_do_nothing()
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT's rowcount here.
            .returning(runs.c.id)
        )
        added = self._db.execute(statement).first() is not None
        if added:
            announce_runs(self._db)  # delivered on commit (store/wakeups.py)
        return added

    def add_many(self, new_runs: Sequence[Run]) -> set[str]:
        if not new_runs:
            return set()
        # A plain bulk insert: with RETURNING it becomes one huge statement per page, which
        # psycopg re-parses every time (3-4x slower). What went in is what exists afterwards
        # and did not before: two indexed lookups, each well under a millisecond per page.
        ids = [run.id for run in new_runs]
        before = self._existing(ids)
        self._db.execute(
            self._insert().on_conflict_do_nothing(), [run_values(run) for run in new_runs]
        )
        added = self._existing(ids) - before
        if added:
            announce_runs(self._db)  # once per batch, delivered on commit (store/wakeups.py)
        return added

    def _existing(self, ids: list[str]) -> set[str]:
        if self._db.dialect.name == "postgresql":
            present = select(runs.c.id).where(runs.c.id == any_(bindparam("ids", ids, type_=_IDS)))
        else:
            present = select(runs.c.id).where(runs.c.id.in_(ids))
        return set(self._db.execute(present).scalars())

    def get(self, run_id: str) -> Run | None:
        row = self._db.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            return None
        attempt_rows = self._db.execute(
            select(attempts).where(attempts.c.run_id == run_id).order_by(attempts.c.number)
        )
        return run_from_row(row, [attempt_from_row(a) for a in attempt_rows])

    def recent_by_task(self, task_ids: Sequence[UUID], per_task: int) -> dict[UUID, list[Run]]:
        found: dict[UUID, list[Run]] = {task_id: [] for task_id in task_ids}
        wanted = list(found)  # each task once, or PostgreSQL's unnest repeats its runs
        dialect = self._db.dialect.name
        # One statement for any number of tasks (PostgreSQL takes the ids as one array);
        # SQLite caps bound variables near 32,766, so very large accounts take a few.
        size = len(wanted) if dialect == "postgresql" else _SQLITE_MAX_IDS
        for start in range(0, len(wanted), max(size, 1)):
            chunk = wanted[start : start + size]
            params = {"task_ids": chunk, "per_task": per_task}
            # Fetched at once: row by row, psycopg's fetchone costs more than the row itself.
            for row in self._db.execute(_recent_statement(dialect), params).all():
                found[row.task_id].append(listed_run_from_row(row))
        return found

    def recent_statuses(self, task_id: UUID, limit: int) -> list[tuple[str, RunStatus]]:
        rows = self._db.execute(_RECENT_STATUSES, {"b_task_id": task_id, "limit": limit})
        return [(row.id, RunStatus(row.status)) for row in rows]

    def cost_since(self, account_id: UUID, since: datetime) -> float:
        query = select(func.coalesce(func.sum(runs.c.cost_in_cents), 0.0)).where(
            runs.c.account_id == account_id, runs.c.created_at >= since
        )
        return float(self._db.execute(query).scalar_one())

    def list_for_account(
        self,
        account_id: UUID,
        *,
        limit: int,
        task_id: UUID | None = None,
        status: RunStatus | None = None,
        before: tuple[datetime, str] | None = None,
    ) -> list[Run]:
        query = select(*_LIGHT).where(runs.c.account_id == account_id)
        if task_id is not None:
            query = query.where(runs.c.task_id == task_id)
        if status is not None:
            query = query.where(runs.c.status == status.value)
        if before is not None:
            created_at, run_id = _usable_cursor(before)
            query = query.where(
                or_(
                    runs.c.created_at < created_at,
                    and_(runs.c.created_at == created_at, runs.c.id < run_id),
                )
            )
        query = query.order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(limit)
        return [run_from_row(row) for row in self._db.execute(query).all()]
