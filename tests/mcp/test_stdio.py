"""`backbeat mcp`: MCP over stdio, spawned by the official SDK's stdio client as an MCP host
spawns it, the account's key in BACKBEAT_MCP_API_KEY."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.mcp.flow import a_task_through_every_tool
from tests.mcp.processes import Member, database_env, make_members

pytestmark = pytest.mark.slow(seconds=30)

COMMAND = [sys.executable, "-m", "backbeat", "mcp"]


@dataclass(frozen=True)
class Setup:
    directory: Path
    env: dict[str, str]
    alice: Member
    bob: Member


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    directory = tmp_path_factory.mktemp("mcp-stdio")
    env = database_env(directory)
    alice, bob = make_members(env)
    return Setup(directory, env, alice, bob)


@asynccontextmanager
async def spawned(setup: Setup, key: str, name: str) -> AsyncIterator[Client]:
    """`backbeat mcp` as a child of the SDK's client; its stderr kept in a file."""
    parameters = StdioServerParameters(
        command=COMMAND[0],
        args=COMMAND[1:],
        env={**setup.env, "BACKBEAT_MCP_API_KEY": key},
        cwd=setup.directory,
    )
    with (setup.directory / f"{name}.stderr").open("w") as errlog:
        async with Client(stdio_client(parameters, errlog=errlog)) as client:
            yield client


def test_a_task_through_every_tool_over_stdio(setup: Setup) -> None:
    async def story() -> None:
        async with (
            spawned(setup, setup.alice.key, "alice") as mine,
            spawned(setup, setup.bob.key, "bob") as theirs,
        ):
            await a_task_through_every_tool(mine, theirs, setup.alice)

    anyio.run(story)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "error: set BACKBEAT_MCP_API_KEY to an API key"),
        ("bbk_" + "x" * 43, "error: the key in BACKBEAT_MCP_API_KEY was refused: Unauthorized"),
        ("not-a-key", "error: the key in BACKBEAT_MCP_API_KEY was refused: Unauthorized"),
    ],
)
def test_without_a_working_key_it_refuses_to_start(setup: Setup, key: str, message: str) -> None:
    done = subprocess.run(
        COMMAND,
        env={**setup.env, "BACKBEAT_MCP_API_KEY": key},
        cwd=setup.directory,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # stdout is the protocol's: nothing else ever goes there
    assert done.stderr.startswith(message), done.stderr
