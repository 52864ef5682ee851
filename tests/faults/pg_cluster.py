"""A private PostgreSQL cluster for fault tests: one the test may stop, start and restart.

The machine's shared server (BACKBEAT_TEST_PG_URL) serves every other test and must never
go down, so an outage test gets a cluster of its own: `initdb` in a temporary directory,
listening on a free loopback port, its socket in that directory. PostgreSQL refuses to run
as root, so when the tests run as root every server binary runs as the `postgres` OS user
(`runuser -u postgres --`) and the directory belongs to that user.

The binaries come from BACKBEAT_TEST_PG_BIN, else the newest /usr/lib/postgresql/*/bin.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.processes import free_port

OS_USER = "postgres"
SUPERUSER = "postgres"
COMMAND_TIMEOUT = 90.0  # seconds: initdb, and pg_ctl's own -t for start, stop and restart
SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",  # several Backbeat processes, each a pool of up to 10
    "shared_buffers": "32MB",
    "fsync": "off",  # a throwaway cluster: durability across a machine crash is moot
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "log_min_messages": "warning",
}


class ClusterError(RuntimeError):
    """A pg_ctl or initdb command failed; the message carries its output and the server log."""


def binaries() -> Path:
    """The directory holding initdb and pg_ctl."""
    configured = os.environ.get("BACKBEAT_TEST_PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
        key=lambda path: [int(part) for part in re.findall(r"\d+", path.parent.parent.name)],
    )
    if not found:
        raise ClusterError(
            "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin: install the "
            "postgresql package, or set BACKBEAT_TEST_PG_BIN to the directory with pg_ctl"
        )
    return found[-1].parent


class PgCluster:
    """A cluster in `directory` on `port`. Not started: call init() and start()."""

    def __init__(self, directory: Path, port: int, bin_dir: Path | None = None) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log_file = directory / "server.log"
        self.port = port
        self._bin = bin_dir or binaries()
        self._as_postgres = os.geteuid() == 0

    # --- URLs ---

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of `database` on this cluster."""
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def libpq_url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    # --- Life cycle ---

    def init(self) -> None:
        if self._as_postgres:
            user = pwd.getpwnam(OS_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        )
        lines = [f"{name} = {value}" for name, value in SETTINGS.items()]
        lines += [f"port = {self.port}", f"unix_socket_directories = '{self.directory}'"]
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write("\n# tests/faults/pg_cluster.py\n" + "\n".join(lines) + "\n")

    def start(self) -> None:
        """Start the server and return once it accepts connections (pg_ctl -w)."""
        self._pg_ctl("start", "-l", str(self.log_file))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` cuts every session (what an outage looks like to clients)."""
        self._pg_ctl("stop", "-m", mode)

    def restart(self, mode: str = "fast") -> None:
        self._pg_ctl("restart", "-m", mode, "-l", str(self.log_file))

    def running(self) -> bool:
        done = subprocess.run(
            [*self._prefix(), str(self._bin / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT,
        )
        return done.returncode == 0

    def accepts(self) -> bool:
        """A client can connect and run a statement now."""
        try:
            with psycopg.connect(self.libpq_url(), connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    def wait_accepting(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.accepts():
            if time.monotonic() > deadline:
                raise ClusterError(f"the cluster did not accept connections within {timeout}s")
            time.sleep(0.01)

    def port_closed(self) -> bool:
        """Nothing listens on the port (the server is down, not merely refusing logins)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.settimeout(1.0)
            return probe.connect_ex(("127.0.0.1", self.port)) != 0

    # --- SQL ---

    def create_database(self, name: str) -> str:
        """Create `name`; answers its SQLAlchemy URL."""
        with psycopg.connect(self.libpq_url(), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def terminate_backends(self, database: str) -> int:
        """pg_terminate_backend every session connected to `database`; answers how many."""
        with psycopg.connect(self.libpq_url(), autocommit=True) as admin:
            row = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchone()
        assert row is not None
        return int(row[0])

    def server_log(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except OSError:
            return ""

    # --- Plumbing ---

    def _prefix(self) -> list[str]:
        return ["runuser", "-u", OS_USER, "--"] if self._as_postgres else []

    def _pg_ctl(self, action: str, *options: str) -> None:
        timeout = str(int(COMMAND_TIMEOUT))
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", timeout, *options, action)

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run(
            [*self._prefix(), str(self._bin / program), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=COMMAND_TIMEOUT + 30,
            cwd=self.directory,
            stdin=subprocess.DEVNULL,
        )
        if done.returncode != 0:
            raise ClusterError(
                f"{program} {' '.join(args)} exited {done.returncode}\n{done.stdout}"
                f"{done.stderr}\n--- server log ---\n{self.server_log()}"
            )


@contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """A started cluster on a free port, in a directory of its own under the system's
    temporary directory (pytest's are private to root, out of the postgres user's reach);
    stopped (immediately) and removed afterwards, whatever state the test left it in."""
    directory = Path(tempfile.mkdtemp(prefix="backbeat-pg-"))
    cluster = PgCluster(directory, free_port())
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        try:
            if cluster.data.exists() and cluster.running():
                cluster.stop("immediate")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
