"""MCP over Streamable HTTP at `/mcp` of a live `backbeat serve`, with the official SDK's
client and the API's keys (`x-api-key` or `Authorization: Bearer`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.acceptance.conftest import Server, serving
from tests.mcp.flow import a_task_through_every_tool
from tests.mcp.processes import Member, database_env, make_members

pytestmark = pytest.mark.slow(seconds=20)

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
MCP_HEADERS = {"accept": "application/json, text/event-stream"}


@dataclass(frozen=True)
class Served:
    server: Server
    alice: Member
    bob: Member

    @property
    def mcp_url(self) -> str:
        return f"{self.server.url}/mcp"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp("mcp-serve")
    env = database_env(directory)
    alice, bob = make_members(env)
    with serving(env, directory) as server:
        yield Served(server, alice, bob)


def test_a_task_through_every_tool_over_http(served: Served) -> None:
    async def story() -> None:
        async with (
            httpx2.AsyncClient(headers={"x-api-key": served.alice.key}) as as_alice,
            httpx2.AsyncClient(headers={"authorization": f"Bearer {served.bob.key}"}) as as_bob,
            Client(streamable_http_client(served.mcp_url, http_client=as_alice)) as mine,
            Client(streamable_http_client(served.mcp_url, http_client=as_bob)) as theirs,
        ):
            await a_task_through_every_tool(mine, theirs, served.alice)

    anyio.run(story)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "Exactly one of x-api-key or Authorization must be provided"),
        ({"x-api-key": "k", "authorization": "Bearer k"}, None),
        ({"authorization": "Basic abc"}, "Authorization header with Bearer token required"),
        ({"x-api-key": "bbk_" + "x" * 43}, "Unauthorized"),
        ({"authorization": "Bearer not-a-key"}, "Unauthorized"),
    ],
)
def test_a_request_without_a_working_key_is_refused_with_the_apis_401(
    served: Served, headers: dict[str, str], message: str | None
) -> None:
    expected = message or "Exactly one of x-api-key or Authorization must be provided"
    response = httpx.post(
        served.mcp_url, json=INITIALIZE, headers={**MCP_HEADERS, **headers}, timeout=10.0
    )
    assert response.status_code == 401, response.text
    assert response.json() == {"status": "error", "error": expected, "message": expected}


def test_the_sdk_client_cannot_connect_with_a_wrong_key(served: Served) -> None:
    async def connect() -> None:
        async with (
            httpx2.AsyncClient(headers={"x-api-key": "bbk_" + "y" * 43}) as http,
            Client(streamable_http_client(served.mcp_url, http_client=http)) as client,
        ):
            await client.list_tools()

    with pytest.raises(ExceptionGroup) as refused:  # the transport's task group
        anyio.run(connect)
    assert refused.group_contains(MCPError)  # at any depth: the 401 ended the session


def test_a_valid_key_initializes(served: Served) -> None:
    response = httpx.post(
        served.mcp_url,
        json=INITIALIZE,
        headers={**MCP_HEADERS, "x-api-key": served.alice.key},
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    assert response.json()["result"]["serverInfo"]["name"] == "backbeat"
