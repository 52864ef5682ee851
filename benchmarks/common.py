"""What the benchmark scripts share: throwaway databases, a seeded tenant, realistic tasks,
/proc readings and report formatting. Imported as `common` (each script's own folder is on
sys.path when it runs)."""

from __future__ import annotations

import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

from backbeat.domain.models import Task
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.testing.databases import migrate, throwaway_postgres
from backbeat.wiring import Backbeat

SECRET = "benchmark-secret-" + "x" * 40
REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 120.0  # several interpreters importing the app at once on a busy machine
PG_ADMIN_URL = os.environ.get(
    "BACKBEAT_BENCH_PG_URL",
    os.environ.get("BACKBEAT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
)
ZONES = ("UTC", "America/New_York", "Europe/London", "Asia/Tokyo", "America/Los_Angeles")
PROMPT = (
    "Summarise this week's streaming numbers for the artist across Spotify, Apple Music and "
    "YouTube; flag any track whose listeners moved more than 20% week on week, list new "
    "playlist adds with their follower counts, and suggest three posts for the weekend. "
    "Keep it under 300 words and end with the one number the team should watch."
)


# --- Databases -----------------------------------------------------------------------------


@contextmanager
def sqlite_database() -> Iterator[str]:
    """A SQLite file in a temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="backbeat-bench-") as directory:
        yield f"sqlite:///{Path(directory) / 'bench.db'}"


@contextmanager
def database(kind: str, prefix: str = "backbeat_bench") -> Iterator[str]:
    """A migrated, empty database of this kind ("postgresql" or "sqlite"), removed
    afterwards."""
    if kind == "postgresql":
        with throwaway_postgres(PG_ADMIN_URL, prefix, migrated=True) as url:
            yield url
        return
    with sqlite_database() as url:
        migrate(url)
        yield url


# --- Seeding -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tenant:
    """An account with an artist and an API key, as a client of the API would have."""

    account_id: UUID
    artist_id: UUID
    key: str
    caller: Caller

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.key}


def make_tenant(backbeat: Backbeat, email: str) -> Tenant:
    account = backbeat.admin.create_account(email)
    artist = backbeat.admin.create_artist(f"Artist of {email}", account_id=account.id)
    issued = backbeat.admin.create_key(account.id)
    caller = Caller(account_id=account.id, key_id=issued.key.id)
    return Tenant(account.id, artist.id, issued.secret_value, caller)


def cron_schedule(rng: random.Random) -> str:
    """A cron expression of the kinds people write: daily, weekly, weekdays, every N…"""
    minute, hour = rng.choice((0, 0, 15, 30, 45, rng.randrange(60))), rng.randrange(24)
    kind = rng.randrange(8)
    if kind == 0:
        return f"{minute} {hour} * * *"
    if kind == 1:
        return f"{minute} {hour} * * {rng.randrange(7)}"
    if kind == 2:
        return f"{minute} {hour} * * 1-5"
    if kind == 3:
        return f"*/{rng.choice((5, 10, 15, 30))} * * * *"
    if kind == 4:
        return f"{minute} */{rng.choice((2, 3, 4, 6, 12))} * * *"
    if kind == 5:
        return f"{minute} {hour} {rng.randrange(1, 29)} * *"
    if kind == 6:
        return rng.choice(("@daily", "@hourly", "@weekly", "@monthly"))
    return f"{minute} {hour} * * {rng.choice(('1,3,5', '2,4', '0,6'))}"


def create_tasks(backbeat: Backbeat, tenant: Tenant, count: int, rng: random.Random) -> list[Task]:
    """`count` tasks through TaskService.create, with varied schedules, zones and models."""
    created = []
    for number in range(count):
        draft = TaskDraft(
            title=f"Weekly pulse #{number}",
            prompt=PROMPT,
            schedule=cron_schedule(rng),
            artist_account_id=tenant.artist_id,
            timezone=rng.choice(ZONES),
            model=rng.choice((None, None, "anthropic/claude-sonnet-4.5", "openai/gpt-5")),
        )
        created.append(backbeat.tasks.create(tenant.caller, draft).task)
    return created


# --- Worker processes ----------------------------------------------------------------------


def clean_env() -> dict[str, str]:
    """This environment without any BACKBEAT_* setting: a child configured by the script."""
    return {key: value for key, value in os.environ.items() if not key.startswith("BACKBEAT_")}


def start_worker_process(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`backbeat worker` with `env`, its output to `log`."""
    with log.open("wb") as sink:
        command = [sys.executable, "-m", "backbeat", "worker"]
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=sink, stderr=sink)


def wait_for(
    condition: Callable[[], bool],
    worker: subprocess.Popen[bytes],
    what: str,
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    """Until `condition` holds; raises if the worker exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited ({worker.returncode}) waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- /proc ---------------------------------------------------------------------------------


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process (all its threads, exited ones too), from /proc; None
    where unavailable. Resolution: one clock tick (10 ms)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float | None:
    """CPU of the PostgreSQL server on this machine: its live processes, plus the children
    the postmaster has reaped (a backend's CPU moves into its parent's cutime when it exits),
    so closed connections still count. None when PostgreSQL is not visible in /proc."""
    total, seen = 0, False
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        if text[text.find("(") + 1 : text.rfind(")")] != "postgres":
            continue
        fields = text.rpartition(")")[2].split()
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
        seen = True
    return total / os.sysconf("SC_CLK_TCK") if seen else None


def machine_cpu() -> tuple[int, int] | None:
    """(busy, total) jiffies over all cores, from /proc/stat; None where unavailable."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


# --- Reports -------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(fraction * len(ordered) + 0.5)))
    return ordered[rank - 1]


def fmt(value: float | None, spec: str = ".1f", suffix: str = "") -> str:
    """A figure, or "n/a" where it could not be measured."""
    return "n/a" if value is None or math.isnan(value) else f"{value:{spec}}{suffix}"


def percent(value: float | None) -> str:
    return fmt(None if value is None else value * 100, ".0f", "%")


def describe(statement: str) -> str:
    """`SELECT … FROM runs`, enough to tell the statements of a request apart."""
    words = " ".join(statement.split())
    if not words.upper().startswith("SELECT"):
        return words[:40]
    main = words.upper().rfind(" FROM ")
    table = words[main + 6 :].split(" ")[0] if main >= 0 else "?"
    extra = " (LATERAL)" if "LATERAL" in words.upper() else ""
    extra += " (row_number)" if "ROW_NUMBER" in words.upper() else ""
    return f"SELECT … FROM {table}{extra}"
