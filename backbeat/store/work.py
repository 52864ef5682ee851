"""The worker's queries: claiming runs, leases and attempts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal_column,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from backbeat.domain.errors import ConcurrentChange
from backbeat.domain.models import Attempt, Run
from backbeat.domain.runs import CLAIMABLE_STATUSES, AttemptStatus, QueueDepth, RunStatus
from backbeat.store.runs import attempt_from_row, run_from_row, run_values
from backbeat.store.tables import attempts, runs
from backbeat.store.wakeups import announce_runs

_CLAIMABLE = sorted(status.value for status in CLAIMABLE_STATUSES)  # QUEUED, REATTEMPTING
_EXECUTING = RunStatus.EXECUTING.value


def _status_is(table: FromClause, *statuses: str) -> ColumnElement[bool]:
    """`status = 'EXECUTING'`, `status IN ('QUEUED', 'REATTEMPTING')`: the values written in
    the SQL, as in the partial indexes' WHERE (tables.py). A planner uses a partial index only
    when it can prove the query's condition implies the index's, which it cannot from a bound
    parameter: SQLite never, PostgreSQL not in a generic plan (psycopg prepares a statement
    it has run five times). With parameters, SQLite scanned the whole table to claim, and
    again per candidate, in time quadratic in the runs waiting."""
    values = [literal_column(f"'{status}'", String) for status in statuses]
    column = table.c.status
    return column == values[0] if len(values) == 1 else column.in_(values)


_WAITING = _status_is(runs, *_CLAIMABLE)


def _claim_query(*, skipping: bool) -> Select[Any]:
    """The claim, built once (building and keying a statement costs more CPU than running
    it): parameters `now`, `limit` and, when `skipping`, `skip`."""
    busy = runs.alias("busy")
    older = runs.alias("older")
    key_free = or_(
        runs.c.concurrency_key.is_(None),
        and_(
            ~exists().where(
                busy.c.concurrency_key == runs.c.concurrency_key,
                _status_is(busy, _EXECUTING),
            ),
            # First in line: a later fire waits for the earlier ones, even when a claim
            # skips the earlier one because another worker has it locked. (A row value:
            # an index range on (key, created_at, id), where an OR reads every waiting
            # run of the key.)
            ~exists().where(
                older.c.concurrency_key == runs.c.concurrency_key,
                _status_is(older, *_CLAIMABLE),
                tuple_(older.c.created_at, older.c.id) < tuple_(runs.c.created_at, runs.c.id),
            ),
        ),
    )
    now = bindparam("now", type_=runs.c.available_at.type)
    conditions = [_WAITING, runs.c.available_at <= now, key_free]
    if skipping:
        conditions.append(runs.c.id.not_in(bindparam("skip", expanding=True)))
    return (
        select(runs)
        .where(*conditions)
        .order_by(runs.c.available_at, runs.c.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True, of=runs)
    )


_CLAIM = _claim_query(skipping=False)
_CLAIM_SKIPPING = _claim_query(skipping=True)


# The worker's other statements, built once too. Parameters named b_*: an UPDATE's SET
# columns come from the parameters' other names.
_RUN_FOR_UPDATE = select(runs).where(runs.c.id == bindparam("b_id")).with_for_update()
_SAVE_RUN = update(runs).where(runs.c.id == bindparam("b_id"))
_ADD_ATTEMPT = insert(attempts)
_SAVE_ATTEMPT = update(attempts).where(attempts.c.id == bindparam("b_id"))
_CURRENT_ATTEMPT = (
    select(attempts)
    .where(attempts.c.run_id == bindparam("b_run_id"))
    .order_by(attempts.c.number.desc())
    .limit(1)
)
_FAILED_ATTEMPTS = select(func.count()).where(
    attempts.c.run_id == bindparam("b_run_id"),
    attempts.c.status == AttemptStatus.FAILED.value,
)
_PREVIOUS_OUTPUTS = (
    select(runs.c.id, runs.c.scheduled_for, runs.c.created_at, runs.c.output)
    .where(
        runs.c.task_id == bindparam("b_task_id", type_=runs.c.task_id.type),
        runs.c.status == RunStatus.COMPLETED.value,
        runs.c.created_at < bindparam("before", type_=runs.c.created_at.type),
    )
    .order_by(runs.c.created_at.desc(), runs.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)


class SqlWorkRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def claimable(self, now: datetime, limit: int, *, skip: Sequence[str] = ()) -> list[Run]:
        """Runs a worker may start now, oldest first, locked; none whose key is executing or
        has an older run still waiting.

        Two runs sharing a key can both look free here; only the first is answered, and the
        unique index on executing keys refuses a second one started by another worker.

        Its cost does not grow with the runs waiting: it walks ix_runs_claimable (waiting
        runs by available_at, id) in the order answered and stops after `limit` free ones,
        looking each one's key up in uq_runs_one_executing_per_key and
        ix_runs_waiting_per_key (the conditions below are written as those partial indexes'
        WHERE, so both SQLite and PostgreSQL can use them; `available_at <= now` implies
        ix_runs_claimable's `available_at IS NOT NULL`).
        """
        query = _CLAIM_SKIPPING if skip else _CLAIM
        params: dict[str, Any] = {"now": now, "limit": limit}
        if skip:  # runs the claiming worker is still executing an (outdated) attempt of
            params["skip"] = list(skip)
        found: list[Run] = []
        keys: set[str] = set()
        for row in self._db.execute(query, params).all():
            run = run_from_row(row)
            if run.concurrency_key is not None:
                if run.concurrency_key in keys:
                    continue
                keys.add(run.concurrency_key)
            found.append(run)
        return found

    def unfinished_of_task(self, task_id: UUID) -> list[Run]:
        """The task's runs that have not ended (queued, waiting or executing), locked."""
        query = (
            select(runs)
            .where(runs.c.task_id == task_id, runs.c.status.in_([*_CLAIMABLE, _EXECUTING]))
            .order_by(runs.c.created_at, runs.c.id)
            .with_for_update()
        )
        return [run_from_row(row) for row in self._db.execute(query).all()]

    def get_for_update(self, run_id: str) -> Run | None:
        row = self._db.execute(_RUN_FOR_UPDATE, {"b_id": run_id}).first()
        return None if row is None else run_from_row(row)

    def save(self, run: Run) -> None:
        values = run_values(run)
        values.pop("id")
        try:
            self._db.execute(_SAVE_RUN, {**values, "b_id": run.id})
        except IntegrityError:
            # The one-executing-run-per-key index: another worker started a run of the same
            # key a moment earlier. The driver's error stops here.
            raise ConcurrentChange(
                f"another run with the key {run.concurrency_key} started first"
            ) from None
        if (
            run.status in CLAIMABLE_STATUSES
            and run.available_at is not None
            and run.available_at <= run.updated_at
        ):
            # Claimable at once (a run handed back): wake the listening workers on commit. A
            # retry that waits first is found by the poll (store/wakeups.py).
            announce_runs(self._db)

    def add_attempt(self, attempt: Attempt) -> None:
        self._db.execute(_ADD_ATTEMPT, _attempt_values(attempt))

    def save_attempt(self, attempt: Attempt) -> None:
        values = _attempt_values(attempt)
        values.pop("id")
        self._db.execute(_SAVE_ATTEMPT, {**values, "b_id": attempt.id})

    def current_attempt(self, run_id: str) -> Attempt | None:
        row = self._db.execute(_CURRENT_ATTEMPT, {"b_run_id": run_id}).first()
        return None if row is None else attempt_from_row(row)

    def failed_attempts(self, run_id: str) -> int:
        return int(self._db.execute(_FAILED_ATTEMPTS, {"b_run_id": run_id}).scalar_one())

    def renew(self, lease_tokens: Sequence[str], until: datetime) -> set[str]:
        """Extend these attempts' leases; answers the tokens still live (the others' runs were
        taken over or canceled)."""
        if not lease_tokens:
            return set()
        statement = (
            update(runs)
            .where(runs.c.lease_token.in_(list(lease_tokens)), _status_is(runs, _EXECUTING))
            .values(lease_expires_at=until)
            .returning(runs.c.lease_token)
        )
        return {row.lease_token for row in self._db.execute(statement)}

    def expired(self, now: datetime, limit: int, *, keep: Sequence[str] = ()) -> list[Run]:
        conditions = [_status_is(runs, _EXECUTING), runs.c.lease_expires_at < now]
        if keep:  # (a run an older release claimed has no token: NOT IN alone would skip it)
            conditions.append(
                or_(runs.c.lease_token.is_(None), runs.c.lease_token.not_in(list(keep)))
            )
        query = (
            select(runs)
            .where(*conditions)
            .order_by(runs.c.lease_expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [run_from_row(row) for row in self._db.execute(query).all()]

    def next_available(self) -> datetime | None:
        # (MIN skips NULLs anyway; said, it lets ix_runs_claimable answer.)
        query = select(func.min(runs.c.available_at)).where(
            _WAITING, runs.c.available_at.is_not(None)
        )
        value: datetime | None = self._db.execute(query).scalar()
        return value

    def previous_outputs(self, task_id: UUID, before: datetime, limit: int) -> list[dict[str, Any]]:
        """The task's completed runs before `before`, newest first: when, and what they said."""
        query = _PREVIOUS_OUTPUTS
        params = {"b_task_id": task_id, "before": before, "limit": limit}
        return [
            {
                "run_id": row.id,
                "fire_time": None if row.scheduled_for is None else row.scheduled_for.isoformat(),
                "created_at": row.created_at.isoformat(),
                "output": (row.output or {}).get("text", ""),
            }
            for row in self._db.execute(query, params).all()
        ]

    def queue_depth(self, now: datetime) -> QueueDepth:
        """Two queries on partial indexes (ix_runs_claimable, ix_runs_leases)."""
        queued, oldest = self._db.execute(
            select(func.count(), func.min(runs.c.available_at)).where(
                _WAITING, runs.c.available_at <= now
            )
        ).one()
        executing = self._db.execute(
            select(func.count()).where(_status_is(runs, _EXECUTING))
        ).scalar_one()
        return QueueDepth(int(queued), oldest, int(executing))


def _attempt_values(attempt: Attempt) -> dict[str, Any]:
    return {
        "id": attempt.id,
        "run_id": attempt.run_id,
        "number": attempt.number,
        "status": attempt.status.value,
        "worker_id": attempt.worker_id,
        "error": attempt.error,
        "created_at": attempt.created_at,
        "updated_at": attempt.updated_at,
        "started_at": attempt.started_at,
        "completed_at": attempt.completed_at,
    }
