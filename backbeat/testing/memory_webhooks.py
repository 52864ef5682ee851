"""Webhook endpoints in memory (the contract of domain.ports.WebhookRepository, as
backbeat/store/webhooks.py keeps it on SQL).

On SQL an endpoint goes with its account (ON DELETE CASCADE); Backbeat never deletes an
account, and neither does the memory store, so there is nothing to cascade here.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from backbeat.domain.webhooks import Endpoint, EventType
from backbeat.testing.memory_tables import Tables, Transaction, require, stored


def _row(endpoint: Endpoint) -> Endpoint:
    """The endpoint as its row keeps it: instants in UTC, the events as their names (the
    SQL store keeps them comma-separated, in order)."""
    row = stored(endpoint)
    return replace(row, events=tuple(EventType(each) for each in row.events))


def _oldest_first(endpoint: Endpoint) -> tuple[datetime, str]:
    return endpoint.created_at, endpoint.id


def _check_references(tables: Tables, row: Endpoint) -> None:
    require(row.account_id in tables.accounts, f"no account {row.account_id}")


class MemoryWebhookRepository:
    """Locks nothing: the memory store's writers take turns (see memory_store)."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, endpoint: Endpoint) -> None:
        row = _row(endpoint)
        tables = self._tx.write()
        require(row.id not in tables.webhooks, f"webhook endpoint {row.id} exists")
        _check_references(tables, row)
        tables.webhooks[row.id] = row

    def get(self, endpoint_id: str, *, for_update: bool = False) -> Endpoint | None:
        return self._tx.read().webhooks.get(endpoint_id)

    def save(self, endpoint: Endpoint) -> None:
        row = _row(endpoint)
        tables = self._tx.write()
        if row.id in tables.webhooks:
            _check_references(tables, row)
            tables.webhooks[row.id] = row

    def delete(self, endpoint_id: str) -> None:
        self._tx.write().webhooks.pop(endpoint_id, None)

    def of_account(self, account_id: UUID) -> list[Endpoint]:
        """The account's endpoints, oldest first."""
        found = [
            each for each in self._tx.read().webhooks.values() if each.account_id == account_id
        ]
        return sorted(found, key=_oldest_first)
