"""Waking workers in other processes when runs become claimable (PostgreSQL only).

The transactions that make runs claimable now (the scheduler's dispatch, run-now, a run
handed back) send `NOTIFY backbeat_runs` from the repositories that write them
(`announce_runs`): inside the transaction, so PostgreSQL delivers it on commit and never for
a rollback, and a listener cannot wake before the runs are visible. Each worker process holds
one connection of its own, outside the pool, LISTENing on the channel (`RunsListener`), and
looks at the queue as soon as a notification arrives. The poll stays as the safety net: a
notification sent while a listener was reconnecting is lost (it looks once it is back), and
a retry whose wait has not run out yet is found by the poll (or by the worker that
scheduled it: worker/loop.py).

SQLite has no NOTIFY: `announce_runs` does nothing there and `listener_for` answers None; its
workers poll (and `serve`'s in-process worker is woken by the in-process notifier)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from backbeat.domain import backoff

CHANNEL = "backbeat_runs"
_NOTIFY = text(f"NOTIFY {CHANNEL}")
# How often the listener's thread looks up from its connection to see whether it should stop.
_STOP_CHECK_SECONDS = 0.25
APPLICATION_NAME = "backbeat-listen"  # in pg_stat_activity

log = logging.getLogger("backbeat.worker")


def announce_runs(connection: Connection) -> None:
    """Tell the listening workers, once this transaction commits, that runs may be waiting.
    (PostgreSQL folds a transaction's identical notifications into one.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(_NOTIFY)


def listener_for(engine: Engine) -> RunsListener | None:
    """A listener on this engine's PostgreSQL database; None on SQLite."""
    if engine.dialect.name != "postgresql":
        return None
    url = engine.url.set(drivername="postgresql")
    return RunsListener(url.render_as_string(hide_password=False))


class RunsListener:
    """One dedicated psycopg connection (autocommit, outside the engine's pool) LISTENing on
    CHANNEL, in a daemon thread, calling `wake` for each notification. When the connection
    drops (a restart, a failover, pg_terminate_backend) it reconnects with the one backoff
    policy (domain.backoff) and wakes once on reconnecting: what was queued meanwhile was
    announced to nobody."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.connects = 0  # connections that reached LISTEN (tests, benchmarks)

    def start(self, wake: Callable[[], None]) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._listen_forever, args=(wake,), name="runs-listener", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop listening; waits up to `timeout` for the thread (it looks four times a second)."""
        self._stopping.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _listen_forever(self, wake: Callable[[], None]) -> None:
        import psycopg  # the driver itself: this connection is not SQLAlchemy's

        failures = 0
        while not self._stopping.is_set():
            try:
                with psycopg.connect(
                    self._conninfo,
                    autocommit=True,
                    connect_timeout=10,
                    application_name=APPLICATION_NAME,
                ) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    self.connects += 1
                    log.info(
                        "listening for new runs",
                        extra={"event": "worker.listening", "channel": CHANNEL},
                    )
                    failures = 0
                    wake()  # anything queued while this connection was not listening
                    while not self._stopping.is_set():
                        for _ in connection.notifies(timeout=_STOP_CHECK_SECONDS):
                            wake()
            except psycopg.Error as exc:
                if self._stopping.is_set():
                    return
                failures += 1
                log.warning(
                    "lost the connection that listens for new runs; reconnecting",
                    extra={
                        "event": "worker.listen_lost",
                        "error": str(exc).strip()[:200],
                        "failures": failures,
                    },
                )
                self._stopping.wait(backoff.delay(failures))
