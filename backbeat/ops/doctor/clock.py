"""This process's clock against the database's (PostgreSQL): schedulers fire, and workers
judge leases, by their own clocks."""

from __future__ import annotations

from datetime import timedelta

from backbeat.config import Settings
from backbeat.domain.clock import iso_utc
from backbeat.ops.doctor.check import NO_DATABASE, Check
from backbeat.ops.doctor.database import DatabaseFacts

CLOCK_WARN = timedelta(seconds=1)
CLOCK_FAIL = timedelta(seconds=10)


def check_clock(settings: Settings, facts: DatabaseFacts | None) -> Check:
    if settings.is_sqlite:
        if settings.clock_start is not None:
            return Check(
                "clock",
                "warn",
                f"BACKBEAT_CLOCK_START is set ({iso_utc(settings.clock_start)}): this "
                "process's clock is not the real time (for demos and tests only)",
            )
        return Check("clock", "skip", "not applicable on SQLite (one machine, one clock)")
    if facts is None or facts.skew is None:
        return Check("clock", "skip", NO_DATABASE)
    skew = facts.skew
    size = max(timedelta(0), abs(skew) - facts.uncertainty)
    direction = "ahead of" if skew > timedelta(0) else "behind"
    whose = "this process's clock" if settings.clock_start is not None else "this machine's clock"
    said = f"{whose} is {_duration(abs(skew))} {direction} the database's"
    if size < CLOCK_WARN:
        return Check("clock", "ok", f"within {_duration(abs(skew))} of the database's")
    fix = (
        "unset BACKBEAT_CLOCK_START (for demos and tests only)"
        if settings.clock_start is not None
        else "synchronise this machine's clock (NTP), or the database server's"
    )
    if size < CLOCK_FAIL:
        return Check("clock", "warn", f"{said}: {fix}")
    return Check(
        "clock",
        "fail",
        f"{said}: a scheduler here fires at the wrong time, and workers may take over "
        f"each other's runs: {fix}",
    )


def _duration(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))} ms"
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {int(seconds) % 60} s"
