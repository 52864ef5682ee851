"""An in-memory store: the domain's ports (domain.ports) without a database, for tests that
exercise services and for anyone embedding Backbeat. It satisfies the same persistence
contracts as the SQL store (tests/contract runs them on both).

    store = MemoryStore()
    with store.unit_of_work(write=True) as uow:
        uow.accounts.add(account)
        uow.commit()

Transactions behave as SQLite's do. A transaction reads the state committed when it began
and sees its own writes; nothing is visible to others until `commit()`; leaving the unit of
work, or `rollback()`, discards the rest. Writers take turns on one lock: `write=True` takes
it when the transaction begins (SQLite's BEGIN IMMEDIATE), any other transaction at its
first write, and then only if nobody committed since it began (else ConcurrentChange, as
SQLite answers "busy" to a reader turning writer on an old snapshot). Row locks
(`for_update`, `claim_due`, `claimable`) need nothing more: no other writer runs meanwhile.

Each transaction copies the tables' dicts (not the rows, which are immutable), so a begin
costs a few dict copies: plenty for tests, not meant for production volumes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from backbeat.domain.errors import ConcurrentChange
from backbeat.testing.memory_accounts import MemoryAccountRepository, MemoryKeyRepository
from backbeat.testing.memory_deliveries import MemoryDeliveryRepository
from backbeat.testing.memory_mcp_servers import MemoryMcpServerRepository
from backbeat.testing.memory_runs import MemoryRunRepository, MemoryWorkRepository
from backbeat.testing.memory_tables import IntegrityViolation, Tables, Transaction
from backbeat.testing.memory_tasks import MemoryScheduleRepository, MemoryTaskRepository
from backbeat.testing.memory_webhooks import MemoryWebhookRepository

if TYPE_CHECKING:
    from backbeat.domain.ports import UnitOfWork

__all__ = ["IntegrityViolation", "MemoryStore", "MemoryUnitOfWork"]


class MemoryStore:
    """The committed state, and the lock writers take turns on. `busy_timeout` is how long
    a writer waits for its turn (SQLite's busy_timeout: 30 s in Backbeat)."""

    def __init__(self, *, busy_timeout: float = 30.0) -> None:
        self._committed = Tables()
        self._version = 0  # how many commits changed the state
        self._guard = threading.Lock()  # for swapping the committed state
        self._turn = threading.Lock()  # the write lock
        self._writer: int | None = None  # the thread holding it
        self._busy_timeout = busy_timeout

    def unit_of_work(self, *, write: bool = False) -> MemoryUnitOfWork:
        """A unit of work on this store; a UnitOfWork factory, as services take one."""
        return MemoryUnitOfWork(self, write=write)

    @property
    def version(self) -> int:
        return self._version

    def snapshot(self) -> tuple[Tables, int]:
        """The committed tables (a transaction's own copy) and their version."""
        with self._guard:
            return self._committed.copy(), self._version

    def take_turn(self) -> None:
        if self._writer == threading.get_ident():
            # With SQL this waits for itself until the busy timeout; say so at once.
            raise RuntimeError("this thread already holds a writing unit of work")
        if not self._turn.acquire(timeout=self._busy_timeout):
            raise TimeoutError("the memory store's write lock stayed taken")
        self._writer = threading.get_ident()

    def end_turn(self) -> None:
        self._writer = None
        self._turn.release()

    def publish(self, tables: Tables) -> None:
        """Make a writer's tables the committed state (the caller holds the write lock)."""
        with self._guard:
            self._committed = tables
            self._version += 1


class MemoryUnitOfWork:
    """`with store.unit_of_work() as uow: …; uow.commit()`. Leaving without commit rolls back."""

    def __init__(self, store: MemoryStore, *, write: bool = False) -> None:
        self._store = store
        self._write = write
        self._entered = False
        self._tables: Tables | None = None  # None between transactions: the next begins lazily
        self._version = 0
        self._writing = False  # holds the write lock
        self._accounts = MemoryAccountRepository(self)
        self._keys = MemoryKeyRepository(self)
        self._tasks = MemoryTaskRepository(self)
        self._runs = MemoryRunRepository(self)
        self._schedules = MemoryScheduleRepository(self)
        self._work = MemoryWorkRepository(self)
        self._deliveries = MemoryDeliveryRepository(self)
        self._webhooks = MemoryWebhookRepository(self)
        self._mcp_servers = MemoryMcpServerRepository(self)

    def __enter__(self) -> MemoryUnitOfWork:
        self._entered = True
        if self._write:
            self.read()  # BEGIN IMMEDIATE: the write lock now, not at the first write
        return self

    @property
    def accounts(self) -> MemoryAccountRepository:
        return self._accounts

    @property
    def keys(self) -> MemoryKeyRepository:
        return self._keys

    @property
    def tasks(self) -> MemoryTaskRepository:
        return self._tasks

    @property
    def runs(self) -> MemoryRunRepository:
        return self._runs

    @property
    def schedules(self) -> MemoryScheduleRepository:
        return self._schedules

    @property
    def work(self) -> MemoryWorkRepository:
        return self._work

    @property
    def deliveries(self) -> MemoryDeliveryRepository:
        return self._deliveries

    @property
    def webhooks(self) -> MemoryWebhookRepository:
        return self._webhooks

    @property
    def mcp_servers(self) -> MemoryMcpServerRepository:
        return self._mcp_servers

    def read(self) -> Tables:
        """The tables as this transaction sees them, beginning one if none is open."""
        if not self._entered:
            raise RuntimeError("use the unit of work in a with block")
        if self._tables is None:
            if self._write:
                self._take_turn()
            self._tables, self._version = self._store.snapshot()
        return self._tables

    def write(self) -> Tables:
        """The tables, for a statement about to write: this transaction's turn first."""
        tables = self.read()
        if not self._writing:
            self._take_turn()
            if self._store.version != self._version:
                raise ConcurrentChange("another unit of work wrote since this one began")
        return tables

    def commit(self) -> None:
        if self._tables is not None and self._writing:
            self._store.publish(self._tables)
        self._end()

    def rollback(self) -> None:
        self._end()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._end()
        self._entered = False

    def _take_turn(self) -> None:
        self._store.take_turn()
        self._writing = True

    def _end(self) -> None:
        """End the transaction (its tables are the committed state's now, or dropped)."""
        self._tables = None
        if self._writing:
            self._writing = False
            self._store.end_turn()


if TYPE_CHECKING:  # the memory store implements the ports (checked by mypy)
    _uow: UnitOfWork = MemoryUnitOfWork(MemoryStore())
    _transaction: Transaction = MemoryUnitOfWork(MemoryStore())
    _factory: Callable[..., UnitOfWork] = MemoryStore().unit_of_work
