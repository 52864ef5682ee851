"""The outbox's queries (see domain.deliveries for the states and the guarantee)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from backbeat.domain.deliveries import (
    REACHED,
    RELEASED_RUN_STATUSES,
    Channel,
    Delivery,
    DeliveryStatus,
    DeliveryTry,
    Purpose,
    SendOutcome,
)
from backbeat.domain.models import Run
from backbeat.store.tables import deliveries, delivery_tries, runs

_RELEASED = [status.value for status in RELEASED_RUN_STATUSES]


class SqlDeliveryRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, delivery: Delivery) -> Delivery:
        """Insert the delivery unless its (run, channel, recipient) has one; answers the row
        that is there now (the new one, or the one an earlier attempt wrote)."""
        dialect = postgresql if self._db.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(deliveries).values(**_values(delivery))
        self._db.execute(statement.on_conflict_do_nothing())
        row = self._db.execute(
            select(deliveries).where(
                deliveries.c.run_id == delivery.run_id,
                deliveries.c.channel == delivery.channel.value,
                deliveries.c.recipient == delivery.recipient,
                deliveries.c.purpose == delivery.purpose.value,
            )
        ).one()
        return _from_row(row)

    def get(self, delivery_id: str, *, for_update: bool = False) -> Delivery | None:
        query = select(deliveries).where(deliveries.c.id == delivery_id)
        if for_update:
            query = query.with_for_update()
        row = self._db.execute(query).first()
        return None if row is None else _from_row(row)

    def save(self, delivery: Delivery) -> None:
        values = _values(delivery)
        values.pop("id")
        self._db.execute(update(deliveries).where(deliveries.c.id == delivery.id).values(**values))

    def of_run(self, run_id: str) -> list[Delivery]:
        """The run's deliveries, oldest first."""
        query = (
            select(deliveries)
            .where(deliveries.c.run_id == run_id)
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        return [_from_row(row) for row in self._db.execute(query)]

    def of_runs(self, run_ids: Sequence[str]) -> dict[str, list[Delivery]]:
        """Each run's deliveries, oldest first, in one query."""
        if not run_ids:
            return {}
        query = (
            select(deliveries)
            .where(deliveries.c.run_id.in_(list(run_ids)))
            .order_by(deliveries.c.created_at, deliveries.c.id)
        )
        found: dict[str, list[Delivery]] = {}
        for row in self._db.execute(query):
            found.setdefault(row.run_id, []).append(_from_row(row))
        return found

    def pending_of_run(self, run_id: str) -> list[Delivery]:
        """The run's own pending messages (not its events: those are about its end)."""
        query = select(deliveries).where(
            deliveries.c.run_id == run_id,
            deliveries.c.purpose == Purpose.MESSAGE.value,
            deliveries.c.status == DeliveryStatus.PENDING.value,
        )
        return [_from_row(row) for row in self._db.execute(query)]

    def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due for a try that the outbox may send on its own (see
        domain.deliveries.may_send_after_run), oldest due first. One never tried (no
        `next_try_at`: its attempt ended before it could send, or a new event) is
        due at once. Not locked: `Outbox.begin` takes each one under the run's lock."""
        due_at = func.coalesce(deliveries.c.next_try_at, deliveries.c.created_at)
        query = (
            select(deliveries)
            .join(runs, runs.c.id == deliveries.c.run_id)
            .where(
                deliveries.c.status == DeliveryStatus.PENDING.value,
                or_(deliveries.c.next_try_at.is_(None), deliveries.c.next_try_at <= now),
                or_(
                    runs.c.status.in_(_RELEASED),
                    deliveries.c.purpose.in_([p.value for p in Purpose if p.outlives_run]),
                ),
            )
            .order_by(due_at, deliveries.c.id)
            .limit(limit)
        )
        return [_from_row(row) for row in self._db.execute(query)]

    def next_due(self) -> datetime | None:
        query = select(deliveries.c.next_try_at).where(
            and_(
                deliveries.c.status == DeliveryStatus.PENDING.value,
                deliveries.c.next_try_at.is_not(None),
            )
        )
        value: datetime | None = self._db.execute(
            query.order_by(deliveries.c.next_try_at).limit(1)
        ).scalar()
        return value

    def stuck(self, now: datetime, limit: int) -> list[Delivery]:
        """`sending` deliveries whose sender should long have reported back."""
        query = (
            select(deliveries)
            .where(
                deliveries.c.status == DeliveryStatus.SENDING.value,
                deliveries.c.sending_until < now,
            )
            .order_by(deliveries.c.sending_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_from_row(row) for row in self._db.execute(query)]

    def record_try(self, delivery_id: str, attempt: DeliveryTry) -> None:
        self._db.execute(
            insert(delivery_tries).values(
                delivery_id=delivery_id,
                number=attempt.number,
                at=attempt.at,
                outcome=attempt.outcome.value,
                detail=attempt.detail,
            )
        )

    def tries_of(self, delivery_ids: Sequence[str]) -> dict[str, list[DeliveryTry]]:
        """Each delivery's tries, first first, in one query."""
        if not delivery_ids:
            return {}
        query = (
            select(delivery_tries)
            .where(delivery_tries.c.delivery_id.in_(list(delivery_ids)))
            .order_by(delivery_tries.c.delivery_id, delivery_tries.c.number)
        )
        found: dict[str, list[DeliveryTry]] = {}
        for row in self._db.execute(query):
            found.setdefault(row.delivery_id, []).append(
                DeliveryTry(row.number, row.at, SendOutcome(row.outcome), row.detail)
            )
        return found

    def to_recipient(
        self, channel: Channel, recipient: str, limit: int, before: str | None = None
    ) -> list[Delivery]:
        """The latest deliveries to one recipient (a webhook endpoint), newest first."""
        query = select(deliveries).where(
            deliveries.c.channel == channel.value, deliveries.c.recipient == recipient
        )
        if before is not None:
            query = query.where(deliveries.c.id < before)
        query = query.order_by(deliveries.c.id.desc()).limit(limit)
        return [_from_row(row) for row in self._db.execute(query)]

    def last_report(self, run: Run) -> Delivery | None:
        reached = [status.value for status in REACHED]
        query = (
            select(deliveries)
            .join(runs, runs.c.id == deliveries.c.run_id)
            .where(
                runs.c.task_id == run.task_id,
                runs.c.created_at <= run.created_at,
                runs.c.id != run.id,
                deliveries.c.purpose == Purpose.REPORT.value,
                deliveries.c.status.in_(reached),
            )
            .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
            .limit(1)
        )
        row = self._db.execute(query).first()
        return None if row is None else _from_row(row)


def _values(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "run_id": delivery.run_id,
        "channel": delivery.channel.value,
        "recipient": delivery.recipient,
        "address": delivery.address,
        "subject": delivery.subject,
        "body": delivery.body,
        "status": delivery.status.value,
        "attempt_id": delivery.attempt_id,
        "tries": delivery.tries,
        "next_try_at": delivery.next_try_at,
        "sending_until": delivery.sending_until,
        "error": delivery.error,
        "sent_at": delivery.sent_at,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
        "purpose": delivery.purpose.value,
    }


def _from_row(row: Any) -> Delivery:
    return Delivery(
        id=row.id,
        run_id=row.run_id,
        channel=Channel(row.channel),
        recipient=row.recipient,
        address=row.address,
        subject=row.subject,
        body=row.body,
        status=DeliveryStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        attempt_id=row.attempt_id,
        tries=row.tries,
        next_try_at=row.next_try_at,
        sending_until=row.sending_until,
        error=row.error,
        sent_at=row.sent_at,
        purpose=Purpose(row.purpose),
    )
