"""Tasks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Connection,
    DateTime,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY

from backbeat.domain.agent_settings import NO_SETTINGS, AgentSettings
from backbeat.domain.models import Task
from backbeat.domain.task_delivery import DeliverySettings, When
from backbeat.store.tables import tasks

_COLUMNS = (
    "account_id",
    "artist_account_id",
    "title",
    "prompt",
    "schedule",
    "timezone",
    "enabled",
    "model",
    "misfire_grace_seconds",
    "max_attempts",
    "pause_after_failures",
    "next_fire_at",
    "created_at",
    "updated_at",
)


def task_from_row(row: Any) -> Task:
    scope = row.scope_organization_ids
    return Task(
        id=row.id,
        scope_organization_ids=None if scope is None else tuple(UUID(each) for each in scope),
        delivery=delivery_from_json(row.delivery),
        agent=agent_from_json(row.agent),
        **{name: getattr(row, name) for name in _COLUMNS},
    )


def _values(task: Task) -> dict[str, Any]:
    scope = task.scope_organization_ids
    return {
        "scope_organization_ids": None if scope is None else [str(each) for each in scope],
        "delivery": delivery_json(task.delivery),
        "agent": agent_json(task.agent),
        **{name: getattr(task, name) for name in _COLUMNS},
    }


def delivery_json(settings: DeliverySettings | None) -> dict[str, Any] | None:
    if settings is None:
        return None
    return {"when": settings.when.value, "email": list(settings.email), "slack": settings.slack_url}


def agent_json(settings: AgentSettings) -> dict[str, Any] | None:
    if settings == NO_SETTINGS:
        return None
    return {
        "tools": None if settings.tools is None else list(settings.tools),
        "max_run_cost_usd": settings.max_run_cost_usd,
        "max_output_tokens": settings.max_output_tokens,
        "model_timeout_seconds": settings.model_timeout_seconds,
    }


def agent_from_json(raw: Any) -> AgentSettings:
    if raw is None:
        return NO_SETTINGS
    tools = raw.get("tools")
    return AgentSettings(
        tools=None if tools is None else tuple(tools),
        max_run_cost_usd=raw.get("max_run_cost_usd"),
        max_output_tokens=raw.get("max_output_tokens"),
        model_timeout_seconds=raw.get("model_timeout_seconds"),
    )


def delivery_from_json(raw: Any) -> DeliverySettings | None:
    if raw is None:
        return None
    return DeliverySettings(
        when=When(raw["when"]), email=tuple(raw.get("email") or ()), slack_url=raw.get("slack")
    )


# Built once: the worker reads a task twice per run.
_TASK = select(tasks).where(tasks.c.id == bindparam("b_id"))
_TASK_FOR_UPDATE = _TASK.with_for_update()


class SqlTaskRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, task: Task) -> None:
        self._db.execute(insert(tasks).values(id=task.id, **_values(task)))

    def get(self, task_id: UUID, *, for_update: bool = False) -> Task | None:
        # (FOR UPDATE is ignored by SQLite, whose writers are serialized.)
        query = _TASK_FOR_UPDATE if for_update else _TASK
        row = self._db.execute(query, {"b_id": task_id}).first()
        return None if row is None else task_from_row(row)

    def update(self, task: Task) -> None:
        self._db.execute(update(tasks).where(tasks.c.id == task.id).values(**_values(task)))

    def delete(self, task_id: UUID) -> bool:
        return self._db.execute(delete(tasks).where(tasks.c.id == task_id)).rowcount == 1

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
        query = select(tasks).where(tasks.c.account_id == account_id)
        if task_id is not None:
            query = query.where(tasks.c.id == task_id)
        if artist_account_id is not None:
            query = query.where(tasks.c.artist_account_id == artist_account_id)
        if enabled is True:  # NULL means "no override", which counts as enabled
            query = query.where(or_(tasks.c.enabled.is_(None), tasks.c.enabled.is_(True)))
        elif enabled is False:
            query = query.where(tasks.c.enabled.is_(False))
        if before is not None:
            created_at, task_id_before = before
            query = query.where(
                or_(
                    tasks.c.created_at < created_at,
                    and_(tasks.c.created_at == created_at, tasks.c.id < task_id_before),
                )
            )
        query = query.order_by(tasks.c.created_at.desc(), tasks.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        return [task_from_row(row) for row in self._db.execute(query).all()]

    def titles(self, task_ids: Iterable[UUID]) -> dict[UUID, str]:
        ids = list(set(task_ids))
        if not ids:
            return {}
        rows = self._db.execute(select(tasks.c.id, tasks.c.title).where(tasks.c.id.in_(ids)))
        return {row.id: row.title for row in rows}

    def count_active(self, account_id: UUID, *, excluding: UUID | None = None) -> int:
        query = select(func.count()).where(tasks.c.account_id == account_id, _ACTIVE)
        if excluding is not None:
            query = query.where(tasks.c.id != excluding)
        return int(self._db.execute(query).scalar_one())

    def active_before(self, task_ids: Sequence[UUID]) -> dict[UUID, int]:
        ids = list(set(task_ids))
        if not ids:
            return {}
        mine, older = tasks.alias("mine"), tasks.alias("older")
        earlier = or_(
            older.c.created_at < mine.c.created_at,
            and_(older.c.created_at == mine.c.created_at, older.c.id < mine.c.id),
        )
        query = (
            select(mine.c.id, func.count(older.c.id).label("older"))
            .select_from(
                mine.outerjoin(
                    older,
                    and_(older.c.account_id == mine.c.account_id, _active(older), earlier),
                )
            )
            .where(mine.c.id.in_(ids), _active(mine))
            .group_by(mine.c.id)
        )
        return {row.id: int(row.older) for row in self._db.execute(query)}


def _active(table: Any) -> Any:
    """Enabled, or no explicit override (NULL), which counts as enabled."""
    return or_(table.c.enabled.is_(None), table.c.enabled.is_(True))


_ACTIVE = _active(tasks)

# PostgreSQL: move many cursors in one statement, each only if it still reads `old`.
_ADVANCE_MANY = text(
    "UPDATE tasks SET next_fire_at = moves.new_at "
    "FROM unnest(:ids, :olds, :news) AS moves(id, old_at, new_at) "
    "WHERE tasks.id = moves.id AND tasks.next_fire_at = moves.old_at"
).bindparams(
    bindparam("ids", type_=ARRAY(Uuid)),
    bindparam("olds", type_=ARRAY(DateTime(timezone=True))),
    bindparam("news", type_=ARRAY(DateTime(timezone=True))),
)


class SqlScheduleRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def claim_due(self, now: datetime, limit: int) -> list[Task]:
        query = (
            select(tasks)
            .where(tasks.c.next_fire_at.is_not(None), tasks.c.next_fire_at <= now, _ACTIVE)
            .order_by(tasks.c.next_fire_at)
            .limit(limit)
            .with_for_update(skip_locked=True)  # SQLite ignores it; its writers take turns
        )
        return [task_from_row(row) for row in self._db.execute(query).all()]

    def advance(self, moves: Sequence[tuple[UUID, datetime, datetime | None]]) -> int:
        if not moves:
            return 0
        if self._db.dialect.name == "postgresql":
            # One statement for the whole batch (an executemany would be one per task).
            ids, olds, news = (list(column) for column in zip(*moves, strict=True))
            return self._db.execute(
                _ADVANCE_MANY, {"ids": ids, "olds": olds, "news": news}
            ).rowcount
        statement = (
            update(tasks)
            .where(tasks.c.id == bindparam("b_id"), tasks.c.next_fire_at == bindparam("b_from"))
            .values(next_fire_at=bindparam("b_to"))
        )
        params = [{"b_id": task_id, "b_from": old, "b_to": new} for task_id, old, new in moves]
        return self._db.execute(statement, params).rowcount

    def earliest_due(self) -> datetime | None:
        query = select(func.min(tasks.c.next_fire_at)).where(
            tasks.c.next_fire_at.is_not(None), _ACTIVE
        )
        value: datetime | None = self._db.execute(query).scalar()
        return value
