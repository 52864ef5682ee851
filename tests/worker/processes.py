"""Real `backbeat worker` processes for the worker tests that need them."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import SECRET
from tests.processes import clean_env

REPO = Path(__file__).resolve().parents[2]
STOP_TIMEOUT = 20.0


@dataclass
class WorkerProcess:
    process: subprocess.Popen[bytes]
    output: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def assert_running(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"a worker exited ({self.process.returncode}):\n{self.log()}")

    def ready(self) -> bool:
        """It has connected, checked the schema and is setting up its loop."""
        self.assert_running()
        return "worker on" in self.log()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT)


def start_worker(database_url: str, model_url: str, output: Path, **settings: str) -> WorkerProcess:
    """`python -m backbeat worker`, configured the way an operator would, by environment: the
    Anthropic provider pointed at `model_url`, a short poll, and `settings` on top."""
    env = clean_env(
        BACKBEAT_DATABASE_URL=database_url,
        BACKBEAT_SECRET_KEY=SECRET,
        BACKBEAT_ANTHROPIC_API_KEY="sk-test",
        BACKBEAT_ANTHROPIC_BASE_URL=model_url,
        BACKBEAT_WORKER_POLL_SECONDS="0.1",
        **settings,
    )
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "backbeat", "worker"],
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return WorkerProcess(process, output)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    workers: Sequence[WorkerProcess] = (),
) -> None:
    """Poll `condition`; fail at once if one of `workers` exits, and after `timeout` with
    their logs."""
    deadline = time.monotonic() + timeout
    while not condition():
        for worker in workers:
            worker.assert_running()
        if time.monotonic() > deadline:
            logs = "\n".join(worker.log() for worker in workers)
            raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")
        time.sleep(0.02)
