"""SdkMcpClient (the official MCP SDK's client) against real MCP servers built with the SDK
(backbeat.testing.mcp_charts): over Streamable HTTP on loopback and over stdio, tools listed
and called, headers sent, one connection kept across runs and made again when it breaks,
and a server that is down, slow or refusing is an McpFailure, never a hang."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import TypeVar

import pytest

from backbeat.agents.tools.mcp_client import SdkMcpClient
from backbeat.agents.tools.mcp_tools import McpFailure
from backbeat.domain.mcp_servers import McpServer
from backbeat.testing.mcp_charts import ChartsServer, stdio_command

pytestmark = pytest.mark.slow(seconds=15)

T = TypeVar("T")
TOKEN = "charts-token-0123456789"
TIMEOUT = 5.0  # generous: a timeout is the test only where `hang` is called


def http_server(charts: ChartsServer, token: str | None = TOKEN) -> McpServer:
    headers = () if token is None else (("Authorization", f"Bearer {token}"),)
    return McpServer("charts", charts.url, None, headers, None, datetime.now(UTC))


def stdio_server(command: str | None = None) -> McpServer:
    return McpServer("charts", None, command or stdio_command(), (), None, datetime.now(UTC))


def with_client(work: Callable[[SdkMcpClient], Awaitable[T]], timeout: float = TIMEOUT) -> T:
    async def main() -> T:
        client = SdkMcpClient(timeout_seconds=timeout, connect_timeout_seconds=TIMEOUT)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


@pytest.fixture
def charts() -> Iterator[ChartsServer]:
    with ChartsServer(token=TOKEN) as server:
        yield server


@pytest.fixture(params=["http", "stdio"])
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def registered(transport: str, request: pytest.FixtureRequest) -> McpServer:
    if transport == "stdio":
        return stdio_server()
    return http_server(request.getfixturevalue("charts"))


def test_tools_are_listed_and_called(registered: McpServer) -> None:
    async def work(client: SdkMcpClient) -> None:
        listed = {tool.name: tool for tool in await client.list_tools(registered)}
        assert {"top_songs", "artist.streams", "wait", "hang", "big", "broken"} <= set(listed)
        top = listed["top_songs"]
        assert top.description == "This week's top songs of a genre, best first."
        assert top.input_schema["properties"]["genre"]["type"] == "string"
        assert top.input_schema["required"] == ["genre"]

        answer = await client.call_tool(registered, "top_songs", {"genre": "indie"})
        assert not answer.is_error
        assert answer.text == "1. The Quiet Hours - Porchlight\n2. Moss Lane - Ferries"
        streams = await client.call_tool(registered, "artist.streams", {"artist": "Nova"})
        assert '"streams": 1234567' in streams.text
        failed = await client.call_tool(registered, "top_songs", {"genre": "polka"})
        assert failed.is_error
        assert "no chart for 'polka'" in failed.text
        unknown = await client.call_tool(registered, "nonesuch", {})
        assert unknown.is_error

    with_client(work)


def test_the_headers_reach_the_server(charts: ChartsServer) -> None:
    async def work(client: SdkMcpClient) -> None:
        await client.list_tools(http_server(charts))

    with_client(work)
    assert charts.headers
    assert all(seen["authorization"] == f"Bearer {TOKEN}" for seen in charts.headers)


def test_a_wrong_token_is_a_failure_not_a_hang(charts: ChartsServer) -> None:
    async def work(client: SdkMcpClient) -> McpFailure:
        with pytest.raises(McpFailure) as raised:
            await client.list_tools(http_server(charts, token="wrong-token-000"))
        return raised.value

    failed = with_client(work)
    assert not failed.reachable
    assert "could not be reached" in failed.message
    assert "wrong-token" not in failed.message


def test_one_connection_serves_many_runs_over_http(charts: ChartsServer) -> None:
    async def work(client: SdkMcpClient) -> None:
        server = http_server(charts)
        for _ in range(3):  # three runs: each lists, then calls
            await client.list_tools(server)
            await client.call_tool(server, "top_songs", {"genre": "indie"})

    with_client(work)
    handshakes = [m for m in charts.methods if m in ("server/discover", "initialize")]
    assert handshakes == ["server/discover"]
    assert charts.methods.count("tools/list") == 3


def test_one_stdio_process_serves_many_runs_and_a_dead_one_is_replaced() -> None:
    async def work(client: SdkMcpClient) -> tuple[str, str, str]:
        server = stdio_server()
        await client.list_tools(server)
        first = (await client.call_tool(server, "process_id", {})).text
        await client.list_tools(server)  # the next run
        second = (await client.call_tool(server, "process_id", {})).text
        os.kill(int(second), signal.SIGKILL)
        # The next run's listing finds the connection broken and makes a new one at once.
        await client.list_tools(server)
        third = (await client.call_tool(server, "process_id", {})).text
        return first, second, third

    first, second, third = with_client(work)
    assert first == second
    assert third != second


def test_a_call_on_a_connection_that_broke_is_a_failure_then_it_reconnects() -> None:
    async def work(client: SdkMcpClient) -> None:
        server = stdio_server()
        pid = (await client.call_tool(server, "process_id", {})).text
        os.kill(int(pid), signal.SIGKILL)
        with pytest.raises(McpFailure, match="could not be reached") as raised:
            await client.call_tool(server, "process_id", {})  # never retried: it may act
        assert not raised.value.reachable
        again = await client.call_tool(server, "process_id", {})
        assert not again.is_error
        assert again.text != pid

    with_client(work)


def test_a_restarted_http_server_is_reached_again(charts: ChartsServer) -> None:
    async def work(client: SdkMcpClient) -> None:
        server = http_server(charts)
        await client.list_tools(server)
        await asyncio.to_thread(charts.stop)
        with pytest.raises(McpFailure) as raised:
            await client.call_tool(server, "top_songs", {"genre": "indie"})
        assert not raised.value.reachable
        with pytest.raises(McpFailure, match="could not be reached"):
            await client.list_tools(server)  # down: a run would fail as retryable
        await asyncio.to_thread(charts.start)
        assert await client.list_tools(server)
        answer = await client.call_tool(server, "top_songs", {"genre": "indie"})
        assert not answer.is_error

    with_client(work)


def test_a_server_that_is_not_there_is_a_failure() -> None:
    async def work(client: SdkMcpClient) -> list[McpFailure]:
        failures = []
        for server in (
            McpServer("charts", "http://127.0.0.1:9/mcp", None, (), None, datetime.now(UTC)),
            stdio_server("/nonexistent/mcp-server --flag"),
        ):
            with pytest.raises(McpFailure) as raised:
                await client.list_tools(server)
            failures.append(raised.value)
        return failures

    refused, missing = with_client(work)
    assert "ConnectError" in refused.message
    assert "/nonexistent/mcp-server" in missing.message or "No such file" in missing.message
    assert not refused.reachable
    assert not missing.reachable


def test_a_slow_call_times_out_and_the_connection_still_serves(registered: McpServer) -> None:
    async def work(client: SdkMcpClient) -> None:
        await client.list_tools(registered)
        with pytest.raises(McpFailure, match=r"did not answer within 0\.5 s") as raised:
            await client.call_tool(registered, "hang", {})
        assert not raised.value.reachable
        answer = await client.call_tool(registered, "top_songs", {"genre": "indie"})
        assert not answer.is_error

    with_client(work, timeout=0.5)


def test_a_tool_that_fails_answers_an_error(registered: McpServer) -> None:
    async def work(client: SdkMcpClient) -> None:
        answer = await client.call_tool(registered, "broken", {})
        assert answer.is_error
        assert answer.text == "Error executing tool broken: the charts database is down"
        big = await client.call_tool(registered, "big", {"size": 50_000})
        assert len(big.text) == 50_000  # the cap is the toolbox's (mcp_tools.capped)

    with_client(work)


def test_a_changed_registration_gets_a_new_connection() -> None:
    async def work(client: SdkMcpClient) -> tuple[str, str]:
        first = (await client.call_tool(stdio_server(), "process_id", {})).text
        moved = stdio_server(stdio_command() + " --again")  # registered anew, differently
        second = (await client.call_tool(moved, "process_id", {})).text
        return first, second

    first, second = with_client(work)
    assert first != second


def test_connections_do_not_outlive_their_event_loop() -> None:
    client = SdkMcpClient(timeout_seconds=TIMEOUT)
    server = stdio_server()

    async def pid() -> str:
        return (await client.call_tool(server, "process_id", {})).text

    first = asyncio.run(pid())  # its loop ends: its connection and process with it
    second = asyncio.run(pid())
    asyncio.run(client.aclose())
    assert first != second


def test_a_server_that_accepts_but_never_answers_times_out() -> None:
    with socket.socket() as silent:  # the kernel accepts connections; nobody reads them
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        server = McpServer(
            "charts", f"http://127.0.0.1:{port}/mcp", None, (), None, datetime.now(UTC)
        )

        async def work(client: SdkMcpClient) -> McpFailure:
            with pytest.raises(McpFailure) as raised:
                await client.list_tools(server)
            return raised.value

        async def main() -> McpFailure:
            client = SdkMcpClient(timeout_seconds=0.5)  # connecting too
            try:
                return await work(client)
            finally:
                await client.aclose()

        failed = asyncio.run(main())
    assert failed.message == (
        "the MCP server 'charts' could not be reached: it did not answer within 0.5 s"
    )
    assert not failed.reachable
