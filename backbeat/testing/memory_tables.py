"""The in-memory store's rows, and the rules its columns follow on SQL (memory_store.py).

Rows are the domain's own frozen entities. They are never changed in place: a write puts a
new entity in the table's dict, so a transaction's copy of the tables (a copy of each dict)
shares the entities with the state it was copied from without either seeing the other's
writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from uuid import UUID

from backbeat.domain.deliveries import Delivery, DeliveryTry
from backbeat.domain.mcp_servers import McpServer
from backbeat.domain.models import Account, ApiKey, Artist, Attempt, Organization, Run, Task
from backbeat.domain.plans import Entitlements
from backbeat.domain.webhooks import Endpoint

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

Entity = TypeVar("Entity", bound="DataclassInstance")


class IntegrityViolation(Exception):
    """The schema refuses the write (a unique key, a foreign key or a check): what the SQL
    store's driver reports as an integrity error. Nothing of the statement was written."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    api_key_id: UUID
    created_at: datetime
    expires_at: datetime
    ended_at: datetime | None = None


@dataclass(slots=True)
class Tables:
    """Every table, keyed by its primary key."""

    accounts: dict[UUID, Account] = field(default_factory=dict)
    organizations: dict[UUID, Organization] = field(default_factory=dict)
    members: dict[tuple[UUID, UUID], datetime] = field(default_factory=dict)  # (org, account)
    artists: dict[UUID, Artist] = field(default_factory=dict)
    keys: dict[UUID, tuple[ApiKey, str]] = field(default_factory=dict)  # (key, its hash)
    sessions: dict[UUID, SessionRow] = field(default_factory=dict)
    plans: dict[UUID, Entitlements] = field(default_factory=dict)
    budgets: dict[UUID, float] = field(default_factory=dict)  # monthly, US dollars
    tasks: dict[UUID, Task] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)
    attempts: dict[str, Attempt] = field(default_factory=dict)
    deliveries: dict[str, Delivery] = field(default_factory=dict)
    delivery_tries: dict[tuple[str, int], DeliveryTry] = field(default_factory=dict)  # (id, n)
    webhooks: dict[str, Endpoint] = field(default_factory=dict)
    mcp_servers: dict[str, McpServer] = field(default_factory=dict)  # by name

    def copy(self) -> Tables:
        """A transaction's own tables: new dicts, shared (immutable) rows."""
        return Tables(**{each.name: dict(getattr(self, each.name)) for each in fields(self)})


class Transaction(Protocol):
    """What the repositories need from their unit of work."""

    def read(self) -> Tables:
        """The tables as this transaction sees them."""
        ...

    def write(self) -> Tables:
        """The same, for a statement about to write (the transaction takes the write lock)."""
        ...


def instant(value: datetime) -> datetime:
    """The instant in UTC; naive datetimes are refused, as the SQL columns refuse them."""
    if value.tzinfo is None:
        raise ValueError("naive datetime given to the memory store")
    return value.astimezone(UTC)


def optional_instant(value: datetime | None) -> datetime | None:
    return None if value is None else instant(value)


def json_value(value: Any) -> Any:
    """The value as a JSON column gives it back: tuples become lists, keys strings, and what
    JSON cannot hold is refused (TypeError), as the SQL store refuses it."""
    return None if value is None else json.loads(json.dumps(value))


def stored(entity: Entity, *json_fields: str) -> Entity:
    """The entity as a row keeps it: instants in UTC, JSON fields through JSON."""
    changes: dict[str, Any] = {}
    for each in fields(entity):
        value = getattr(entity, each.name)
        if isinstance(value, datetime):
            changes[each.name] = instant(value)
        elif each.name in json_fields:
            changes[each.name] = json_value(value)
    return replace(entity, **changes)


def fresh(entity: Entity, *json_fields: str) -> Entity:
    """A row handed out: its JSON fields copied, so that a caller changing them in place
    changes nothing stored (the SQL store builds new objects for every read)."""
    changes = {name: json_value(getattr(entity, name)) for name in json_fields}
    return replace(entity, **changes) if changes else entity


def require(condition: bool, message: str) -> None:
    if not condition:
        raise IntegrityViolation(message)
