"""A unit of work: one transaction, with the repositories bound to it."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Connection, Engine

from backbeat.store.accounts import SqlAccountRepository, SqlKeyRepository
from backbeat.store.deliveries import SqlDeliveryRepository
from backbeat.store.engine import WRITE
from backbeat.store.mcp_servers import SqlMcpServerRepository
from backbeat.store.runs import SqlRunRepository
from backbeat.store.tasks import SqlScheduleRepository, SqlTaskRepository
from backbeat.store.webhooks import SqlWebhookRepository
from backbeat.store.work import SqlWorkRepository


class SqlUnitOfWork:
    """`with SqlUnitOfWork(engine) as uow: …; uow.commit()`. Leaving without commit rolls back.

    `write=True` says the transaction will write (on SQLite it takes the write lock at BEGIN).
    """

    def __init__(self, engine: Engine, *, write: bool = False) -> None:
        self._engine = engine
        self._write = write
        self._connection: Connection | None = None

    def __enter__(self) -> SqlUnitOfWork:
        connection = self._engine.connect()
        if self._write:
            connection = connection.execution_options(**{WRITE: True})
        connection.begin()
        self._connection = connection
        self._bind(connection)
        return self

    def _bind(self, connection: Connection) -> None:
        """Build the repositories on the transaction's connection. A subclass may override it
        to build repositories of its own (benchmarks/scheduler.py times the scheduler's), so
        the connection never has to leave the unit of work."""
        self._accounts = SqlAccountRepository(connection)
        self._keys = SqlKeyRepository(connection)
        self._tasks = SqlTaskRepository(connection)
        self._runs = SqlRunRepository(connection)
        self._schedules = SqlScheduleRepository(connection)
        self._work = SqlWorkRepository(connection)
        self._deliveries = SqlDeliveryRepository(connection)
        self._webhooks = SqlWebhookRepository(connection)
        self._mcp_servers = SqlMcpServerRepository(connection)

    @property
    def accounts(self) -> SqlAccountRepository:
        return self._accounts

    @property
    def keys(self) -> SqlKeyRepository:
        return self._keys

    @property
    def tasks(self) -> SqlTaskRepository:
        return self._tasks

    @property
    def runs(self) -> SqlRunRepository:
        return self._runs

    @property
    def schedules(self) -> SqlScheduleRepository:
        return self._schedules

    @property
    def work(self) -> SqlWorkRepository:
        return self._work

    @property
    def deliveries(self) -> SqlDeliveryRepository:
        return self._deliveries

    @property
    def webhooks(self) -> SqlWebhookRepository:
        return self._webhooks

    @property
    def mcp_servers(self) -> SqlMcpServerRepository:
        return self._mcp_servers

    def _bound_connection(self) -> Connection:
        """The transaction's connection. Private to the store: SQL goes through the
        repositories, not through a unit of work."""
        assert self._connection is not None, "use the unit of work in a with block"
        return self._connection

    def commit(self) -> None:
        self._bound_connection().commit()

    def rollback(self) -> None:
        self._bound_connection().rollback()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        connection = self._bound_connection()
        try:
            if connection.in_transaction():
                connection.rollback()
        finally:
            connection.close()
            self._connection = None
