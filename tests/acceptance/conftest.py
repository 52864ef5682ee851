"""Acceptance fixtures: Backbeat run as an operator runs it, as real processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import clean_env, free_port
from tests.tools.helpers import LocalSmtpServer

# The installed console script, and the module form; the server is started the second way.
CONSOLE_SCRIPT = [str(Path(sys.executable).with_name("backbeat"))]
MODULE = [sys.executable, "-m", "backbeat"]

STARTUP_TIMEOUT = 60.0  # an interpreter importing the whole app, beside parallel test processes
SHUTDOWN_TIMEOUT = 10.0
CLI_TIMEOUT = 60.0


def run_cli(
    env: dict[str, str],
    *args: str,
    command: list[str] = CONSOLE_SCRIPT,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run the installed `backbeat` (or `command`) with ARGS; the caller checks the result."""
    return subprocess.run(
        [*command, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli_json(env: dict[str, str], *args: str) -> Any:
    """Run a CLI command with --json; it must succeed, print nothing on stderr, and one JSON."""
    done = run_cli(env, *args, "--json")
    assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}{done.stderr}"
    assert done.stderr == "", done.stderr
    return json.loads(done.stdout)


@dataclass
class Server:
    """A `backbeat serve` subprocess; stdout and stderr go to files (no pipe can fill up)."""

    process: subprocess.Popen[bytes]
    url: str
    stdout_path: Path
    stderr_path: Path
    returncode: int | None = field(default=None)

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"

    def wait_until_up(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(
                    f"backbeat serve exited with {self.process.returncode} before answering\n"
                    + self.output()
                )
            try:
                httpx.get(f"{self.url}/healthz", timeout=1.0)
            except httpx.TransportError:
                pass
            else:
                return
            if time.monotonic() > deadline:
                pytest.fail(
                    f"backbeat serve did not answer within {timeout:.0f} s\n" + self.output()
                )
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self.returncode = self.process.returncode

    def stop(self) -> int:
        """SIGINT (Ctrl-C), as an operator stops it; SIGKILL if it does not stop in time."""
        if self.returncode is not None:
            return self.returncode
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=SHUTDOWN_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                self.returncode = self.process.returncode
                pytest.fail(
                    f"backbeat serve ignored SIGINT for {SHUTDOWN_TIMEOUT:.0f} s\n" + self.output()
                )
        self.returncode = self.process.returncode
        return self.returncode


def start_server(env: dict[str, str], directory: Path) -> Server:
    """Start `python -m backbeat serve` on a free port in `directory`; it is not up yet."""
    port = free_port()
    stdout_path = directory / f"serve-{port}.stdout"
    stderr_path = directory / f"serve-{port}.stderr"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [*MODULE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=directory,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    return Server(process, f"http://127.0.0.1:{port}", stdout_path, stderr_path)


@contextmanager
def serving(env: dict[str, str], directory: Path) -> Iterator[Server]:
    """A server that answers; afterwards stopped with SIGINT, which must end it cleanly."""
    running = start_server(env, directory)
    try:
        running.wait_until_up()
    except BaseException:
        running.kill()
        raise
    try:
        yield running
    finally:
        code = running.stop()
    assert code == 0, f"backbeat serve exited with {code} on SIGINT\n" + running.output()


@pytest.fixture
def sqlite_env(tmp_path: Path) -> dict[str, str]:
    """Settings for a fresh SQLite file in tmp_path (its secret is generated beside it)."""
    return clean_env(BACKBEAT_DATABASE_URL=f"sqlite:///{tmp_path / 'backbeat.db'}")


@pytest.fixture
def server(tmp_path: Path, sqlite_env: dict[str, str]) -> Iterator[Server]:
    """`python -m backbeat serve` on SQLite and a free port, its clock on a Monday noon."""
    env = {**sqlite_env, "BACKBEAT_CLOCK_START": "2026-01-05T12:00:00Z"}
    with serving(env, tmp_path) as running:
        yield running


@pytest.fixture
def smtp() -> Iterator[LocalSmtpServer]:
    """A real SMTP server (aiosmtpd) on loopback that keeps what it receives."""
    with LocalSmtpServer() as found:
        yield found
