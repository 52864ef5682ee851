"""Plumbing for tests that start Backbeat (or anything else) as a child process."""

from __future__ import annotations

import os
import socket


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any inherited BACKBEAT_* setting, plus `settings`: a child
    configured by the test alone, whatever the developer's shell exports."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("BACKBEAT_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def free_port() -> int:
    """A loopback TCP port nothing listens on (the OS's pick, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
