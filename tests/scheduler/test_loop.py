"""The thin loop: it sleeps until the next fire, wakes early on a change, stops when asked."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from backbeat.domain.errors import DatabaseUnavailable
from backbeat.scheduler.loop import SchedulerLoop
from backbeat.services.keys import Caller
from backbeat.services.scheduler import Scheduler, SchedulerPolicy, TickReport
from backbeat.services.tasks import TaskDraft
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant


def test_step_sleeps_until_the_next_fire(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    loop = SchedulerLoop(backbeat.scheduler, clock, backbeat.schedule_changed)
    caller = Caller(alice.account_id, alice.key_id(backbeat))
    clock.set(datetime(2026, 1, 5, 12, 0, 58, tzinfo=UTC))
    backbeat.tasks.create(
        caller, TaskDraft("t", "p", "1 12 * * *", artist_account_id=alice.artist_id)
    )

    assert loop.step() == 2.0  # 12:01:00 is two seconds away
    clock.set(datetime(2026, 1, 5, 12, 1, 0, tzinfo=UTC))
    assert loop.step() == 5.0  # fired; nothing else due soon, so the cap


def test_a_task_change_wakes_the_loop_and_stop_ends_it(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    # With a one-hour nap, only the wake-up can make the loop tick again within the test.
    sleepy = Scheduler(backbeat.uow, clock, SchedulerPolicy(max_sleep=timedelta(hours=1)))
    loop = SchedulerLoop(sleepy, clock, backbeat.schedule_changed)
    thread = threading.Thread(target=loop.run)
    thread.start()
    try:
        _wait_for(lambda: loop.ticks >= 1)
        before = loop.ticks
        caller = Caller(alice.account_id, alice.key_id(backbeat))
        backbeat.tasks.create(
            caller, TaskDraft("t", "p", "0 9 * * *", artist_account_id=alice.artist_id)
        )
        _wait_for(lambda: loop.ticks > before, timeout=30)
    finally:
        loop.stop()
        thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_database_outage_is_retried_not_fatal(backbeat: Backbeat, clock: FakeClock) -> None:
    calls = 0

    class Flaky:
        policy = backbeat.scheduler.policy

        def tick(self, now: datetime) -> TickReport:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise DatabaseUnavailable("connection refused")
            return TickReport()

        def next_wake(self, report: TickReport, now: datetime) -> datetime:
            loop.stop()
            return now

    wakeup = threading.Event()
    loop = SchedulerLoop(Flaky(), clock, wakeup)  # type: ignore[arg-type]
    thread = threading.Thread(target=loop.run)
    thread.start()
    _wait_for(lambda: calls == 1)
    wakeup.set()  # cut the backoff short
    thread.join(timeout=5)

    assert calls == 2
    assert not thread.is_alive()


def _wait_for(condition: object, timeout: float = 5.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
