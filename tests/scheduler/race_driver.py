"""One scheduler process for the race test (tests/scheduler/test_race.py).

Run as `python -m tests.scheduler.race_driver --name A --database-url … --control-dir …`.
The test owns time: it writes the simulated instant to `<control-dir>/now`, and this process
ticks at whatever instant the file holds, over and over, until `<control-dir>/stop` appears.

Each tick that handled tasks appends one JSON line to `<control-dir>/<name>.progress`
(which instant it ticked at, how many runs it created), flushed at once, so the test can
tell which process did what, even for a process it SIGKILLs. The first line, `started`,
says the process is connected and ticking.

While `<control-dir>/hold-<name>` exists, a dispatch transaction of this process waits just
before its commit, holding the tasks it claimed: the test uses it to catch the process in the
middle of dispatching, deterministically, and kill it there.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO

from backbeat.config import Settings
from backbeat.services.scheduler import Scheduler, TickReport
from backbeat.store.uow import SqlUnitOfWork
from backbeat.testing import FakeClock
from backbeat.wiring import build

SECRET = "race-driver-secret-" + "x" * 40
PAUSE_SECONDS = 0.003  # between ticks: keep polling the instant without hogging a CPU
HOLD_LIMIT_SECONDS = 60.0  # a hold the test forgot to lift must not hang the process


def holding_before_commit(
    factory: Callable[..., SqlUnitOfWork], hold: Path
) -> Callable[..., SqlUnitOfWork]:
    """Units of work whose commit waits while `hold` exists (the transaction stays open)."""

    def make(write: bool = False) -> SqlUnitOfWork:
        uow = factory(write=write)
        commit = uow.commit

        def commit_when_released() -> None:
            deadline = time.monotonic() + HOLD_LIMIT_SECONDS
            while hold.exists() and time.monotonic() < deadline:
                time.sleep(0.002)
            commit()

        uow.commit = commit_when_released  # type: ignore[method-assign]
        return uow

    return make


def read_now(control: Path) -> datetime:
    return datetime.fromisoformat((control / "now").read_text().strip())


def record(progress: IO[str], **fields: object) -> None:
    progress.write(json.dumps(fields) + "\n")
    progress.flush()  # a SIGKILL must not lose what was already reported


def report_line(now: datetime, report: TickReport) -> dict[str, object]:
    return {
        "event": "tick",
        "now": now.isoformat(),
        "tasks": report.tasks,
        "runs_created": report.runs_created,
        "duplicates": report.duplicates,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--control-dir", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=25)
    args = parser.parse_args()
    control: Path = args.control_dir

    clock = FakeClock(read_now(control))
    backbeat = build(Settings(database_url=args.database_url, secret_key=SECRET), clock=clock)
    # The configured policy, with small batches: one tick is many short transactions, so the
    # processes interleave.
    policy = replace(backbeat.scheduler.policy, batch_size=args.batch_size)
    uow = holding_before_commit(backbeat.uow, control / f"hold-{args.name}")
    scheduler = Scheduler(uow, clock, policy)
    with (control / f"{args.name}.progress").open("a") as progress:
        started = False
        while not (control / "stop").exists():
            now = read_now(control)
            clock.set(now)
            report = scheduler.tick(now)
            if not started:
                record(progress, event="started")
                started = True
            if report.tasks:
                record(progress, **report_line(now, report))
            time.sleep(PAUSE_SECONDS)
    backbeat.close()


if __name__ == "__main__":
    main()
