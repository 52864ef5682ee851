"""Webhook endpoints (domain.webhooks). The secrets arrive sealed (services.webhooks seals
them with the server's key before they reach the store) and are stored as given."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, insert, select, update

from backbeat.domain.webhooks import Endpoint, EventType
from backbeat.store.tables import webhook_endpoints


class SqlWebhookRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, endpoint: Endpoint) -> None:
        self._db.execute(insert(webhook_endpoints).values(**_values(endpoint)))

    def get(self, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None:
        query = select(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id)
        if for_update:
            query = query.with_for_update()
        row = self._db.execute(query).first()
        return None if row is None else _from_row(row)

    def save(self, endpoint: Endpoint) -> None:
        values = _values(endpoint)
        values.pop("id")
        self._db.execute(
            update(webhook_endpoints).where(webhook_endpoints.c.id == endpoint.id).values(**values)
        )

    def delete(self, endpoint_id: str) -> None:
        self._db.execute(delete(webhook_endpoints).where(webhook_endpoints.c.id == endpoint_id))

    def of_account(self, account_id: UUID) -> list[Endpoint]:
        query = (
            select(webhook_endpoints)
            .where(webhook_endpoints.c.account_id == account_id)
            .order_by(webhook_endpoints.c.created_at, webhook_endpoints.c.id)
        )
        return [_from_row(row) for row in self._db.execute(query)]


def _values(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "id": endpoint.id,
        "account_id": endpoint.account_id,
        "url": endpoint.url,
        "events": ",".join(event.value for event in endpoint.events),
        "secret": endpoint.secret,
        "previous_secret": endpoint.previous_secret,
        "previous_secret_until": endpoint.previous_secret_until,
        "failing_since": endpoint.failing_since,
        "disabled_at": endpoint.disabled_at,
        "disabled_reason": endpoint.disabled_reason,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
    }


def _from_row(row: Any) -> Endpoint:
    return Endpoint(
        id=row.id,
        account_id=row.account_id,
        url=row.url,
        events=tuple(EventType(name) for name in row.events.split(",") if name),
        secret=row.secret,
        created_at=row.created_at,
        updated_at=row.updated_at,
        previous_secret=row.previous_secret,
        previous_secret_until=row.previous_secret_until,
        failing_since=row.failing_since,
        disabled_at=row.disabled_at,
        disabled_reason=row.disabled_reason,
    )
