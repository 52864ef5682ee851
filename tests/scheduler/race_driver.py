"""One scheduler process for the race test (tests/scheduler/test_race.py).

Run as `python -m tests.scheduler.race_driver --name A --database-url … --control-dir …`.
The test owns time: it writes the simulated instant to `<control-dir>/now`, and this process
ticks at whatever instant the file holds, over and over, until `<control-dir>/stop` appears.

Each tick that handled tasks appends one JSON line to `<control-dir>/<name>.progress`
(which instant it ticked at, how many runs it created), flushed at once, so the test can
tell which process did what, even for a process it SIGKILLs. The first line, `started`,
says the process is connected and ticking.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import IO

from backbeat.config import Settings
from backbeat.services.scheduler import Scheduler, TickReport
from backbeat.testing import FakeClock
from backbeat.wiring import build

SECRET = "race-driver-secret-" + "x" * 40
PAUSE_SECONDS = 0.003  # between ticks: keep polling the instant without hogging a CPU


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
    scheduler = Scheduler(backbeat.uow, clock, policy)
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
