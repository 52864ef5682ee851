"""The outbox's rows in memory (the contract of domain.ports.DeliveryRepository, as
backbeat/store/deliveries.py keeps it on SQL): at most one per (run, channel, recipient,
purpose), and each delivery's tries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from backbeat.domain.deliveries import (
    REACHED,
    Channel,
    Delivery,
    DeliveryStatus,
    DeliveryTry,
    Purpose,
    SendOutcome,
    may_send_after_run,
)
from backbeat.domain.models import Run
from backbeat.testing.memory_tables import Tables, Transaction, instant, require, stored


def _key(delivery: Delivery) -> tuple[str, str, str, str]:
    return delivery.run_id, delivery.channel.value, delivery.recipient, delivery.purpose.value


def _oldest_first(delivery: Delivery) -> tuple[datetime, str]:
    return delivery.created_at, delivery.id


def _same_key(tables: Tables, row: Delivery) -> Delivery | None:
    found = (each for each in tables.deliveries.values() if _key(each) == _key(row))
    return next(found, None)


class MemoryDeliveryRepository:
    """Locks nothing: the memory store's writers take turns (see memory_store)."""

    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, delivery: Delivery) -> Delivery:
        row = stored(delivery)
        tables = self._tx.write()
        there = _same_key(tables, row)
        if there is not None:
            return there  # an earlier attempt's intent stands
        require(row.id not in tables.deliveries, f"delivery {row.id} exists")
        require(row.run_id in tables.runs, f"no run {row.run_id}")
        tables.deliveries[row.id] = row
        return row

    def get(self, delivery_id: str, *, for_update: bool = False) -> Delivery | None:
        return self._tx.read().deliveries.get(delivery_id)

    def save(self, delivery: Delivery) -> None:
        row = stored(delivery)
        tables = self._tx.write()
        if row.id not in tables.deliveries:
            return
        there = _same_key(tables, row)
        require(there is None or there.id == row.id, f"{_key(row)} has a delivery")
        require(row.run_id in tables.runs, f"no run {row.run_id}")
        tables.deliveries[row.id] = row

    def of_run(self, run_id: str) -> list[Delivery]:
        """The run's deliveries, oldest first."""
        return self.of_runs([run_id]).get(run_id, [])

    def of_runs(self, run_ids: Sequence[str]) -> dict[str, list[Delivery]]:
        """Each run's deliveries, oldest first (only runs that have some)."""
        wanted = set(run_ids)
        found: dict[str, list[Delivery]] = {}
        rows = sorted(self._tx.read().deliveries.values(), key=_oldest_first)
        for row in rows:
            if row.run_id in wanted:
                found.setdefault(row.run_id, []).append(row)
        return found

    def pending_of_run(self, run_id: str) -> list[Delivery]:
        """The run's own pending messages (not its events: those are about its end)."""
        return [
            each
            for each in self.of_run(run_id)
            if each.purpose is Purpose.MESSAGE and each.status is DeliveryStatus.PENDING
        ]

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due that the outbox may send on its own (messages of a run
        that ended, not by a cancel; events whatever the run's state), oldest due first."""
        when = instant(now)
        tables = self._tx.read()
        found = [
            each
            for each in tables.deliveries.values()
            if each.status is DeliveryStatus.PENDING
            and (each.next_try_at is None or each.next_try_at <= when)
            and may_send_after_run(each, tables.runs[each.run_id].status)
        ]
        found.sort(key=lambda each: (each.next_try_at or each.created_at, each.id))
        return found[:limit]

    def next_due(self) -> datetime | None:
        return min(
            (
                each.next_try_at
                for each in self._tx.read().deliveries.values()
                if each.status is DeliveryStatus.PENDING and each.next_try_at is not None
            ),
            default=None,
        )

    def stuck(self, now: datetime, limit: int) -> list[Delivery]:
        """`sending` deliveries whose sender should long have reported back."""
        when = instant(now)
        found = [
            each
            for each in self._tx.read().deliveries.values()
            if each.status is DeliveryStatus.SENDING
            and each.sending_until is not None
            and each.sending_until < when
        ]
        found.sort(key=lambda each: (each.sending_until, each.id))
        return found[:limit]

    def record_try(self, delivery_id: str, attempt: DeliveryTry) -> None:
        row = DeliveryTry(
            number=attempt.number,
            at=instant(attempt.at),
            outcome=SendOutcome(attempt.outcome),
            detail=attempt.detail,
        )
        tables = self._tx.write()
        key = (delivery_id, row.number)
        require(key not in tables.delivery_tries, f"delivery {delivery_id} has try {row.number}")
        require(delivery_id in tables.deliveries, f"no delivery {delivery_id}")
        tables.delivery_tries[key] = row

    def tries_of(self, delivery_ids: Sequence[str]) -> dict[str, list[DeliveryTry]]:
        """Each delivery's tries, first first (only deliveries that have some)."""
        wanted = set(delivery_ids)
        found: dict[str, list[DeliveryTry]] = {}
        for (delivery_id, _), row in sorted(self._tx.read().delivery_tries.items()):
            if delivery_id in wanted:
                found.setdefault(delivery_id, []).append(row)
        return found

    def to_recipient(
        self, channel: Channel, recipient: str, limit: int, before: str | None = None
    ) -> list[Delivery]:
        """The latest deliveries to one recipient, newest first (by id: time-ordered); with
        `before`, only those with a smaller id."""
        found = [
            each
            for each in self._tx.read().deliveries.values()
            if each.channel == channel
            and each.recipient == recipient
            and (before is None or each.id < before)
        ]
        found.sort(key=lambda each: each.id, reverse=True)
        return found[:limit]

    def last_report(self, run: Run) -> Delivery | None:
        tables = self._tx.read()
        runs = {
            each.id
            for each in tables.runs.values()
            if each.task_id == run.task_id
            and each.created_at <= run.created_at
            and each.id != run.id
        }
        found = [
            each
            for each in tables.deliveries.values()
            if each.run_id in runs and each.purpose is Purpose.REPORT and each.status in REACHED
        ]
        return max(found, key=_oldest_first, default=None)
