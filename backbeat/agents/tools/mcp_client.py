"""The McpClient of agents.tools.mcp_tools over the official MCP Python SDK (2.x): Streamable
HTTP (`streamable_http_client` on an httpx2 client carrying the server's headers) and stdio
(the server's command as a child process).

Connections are kept: one client session per server per worker process, made at the first
run that needs the server and used by every run after it (concurrent calls share it). Each is
held open by a task of its own, since the SDK's transports live in task groups that must be
left by the task that entered them. A stdio server is one process per worker, kept alive; a
Streamable HTTP server keeps its negotiated session (and the HTTP connections) where it
has one. A connection that breaks (the process died, the server restarted and forgot the
session, the network dropped) is closed, and the next use connects again: a listing at the
start of a run tries once more at once, a call does not (it may have had effects) and is a
tool error the model sees. A registration that changed (removed and added again) gets a new
connection. Everything waits at most BACKBEAT_MCP_TIMEOUT_SECONDS: connecting, listing, each
call.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import (
    CONNECTION_CLOSED,
    INVALID_REQUEST,
    REQUEST_TIMEOUT,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    Implementation,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from backbeat import __version__
from backbeat.agents.tools.mcp_tools import McpFailure, RemoteResult, RemoteTool
from backbeat.domain.mcp_servers import McpServer

log = logging.getLogger("backbeat.worker")

MAX_PAGES = 20  # of a tools/list answer: a server that pages forever cannot hold a run up
SSE_READ_SECONDS = 300.0  # between events of an open stream (the SDK's default)


class SdkMcpClient:
    """`timeout_seconds` for each listing and call; `connect_timeout_seconds` (the same by
    default) for connecting, which for a stdio server includes starting its process."""

    def __init__(
        self, *, timeout_seconds: float, connect_timeout_seconds: float | None = None
    ) -> None:
        self._timeout = timeout_seconds
        self._connect_timeout = connect_timeout_seconds or timeout_seconds
        self._connections: dict[str, _Connection] = {}

    def _connection(self, server: McpServer) -> _Connection:
        """The server's connection, a new one when there is none that can still serve."""
        loop = asyncio.get_running_loop()
        held = self._connections.get(server.name)
        if held is not None and held.loop is loop and held.usable_for(server):
            return held
        if held is not None and held.loop is loop:
            held.close()  # broken, or the registration changed
        # (One held on another, finished event loop ended with it.)
        fresh = _Connection(server, self._connect_timeout)
        self._connections[server.name] = fresh
        return fresh

    async def list_tools(self, server: McpServer) -> list[RemoteTool]:
        for last in (False, True):
            connection = self._connection(server)
            client = await connection.client()  # a fresh connection's failure is final
            try:
                async with asyncio.timeout(self._timeout):
                    listed = await _all_tools(client)
            except TimeoutError:
                connection.close()
                raise McpFailure(self._late(server), reachable=False) from None
            except MCPError as exc:
                if not _broken(exc):
                    answered = f"the MCP server {server.name!r} answered: {exc.message}"
                    raise McpFailure(answered, reachable=True) from None
                connection.close()
                if last or not connection.reused:
                    raise McpFailure(_gone(server, exc.message), reachable=False) from None
                continue  # a kept connection had gone stale: once more on a new one
            except Exception as exc:
                connection.close()
                raise McpFailure(_gone(server, _described(exc)), reachable=False) from None
            connection.reused = True
            return [
                RemoteTool(tool.name, tool.description or "", dict(tool.input_schema))
                for tool in listed
            ]
        raise AssertionError("unreachable")  # pragma: no cover

    async def call_tool(
        self, server: McpServer, tool: str, arguments: dict[str, Any]
    ) -> RemoteResult:
        connection = self._connection(server)
        client = await connection.client()
        try:
            # The SDK's own timeout comes first (it tells the server the call is canceled);
            # this one is the backstop.
            async with asyncio.timeout(self._timeout + 1):
                result = await client.call_tool(tool, arguments, read_timeout_seconds=self._timeout)
        except TimeoutError:
            raise McpFailure(self._late(server), reachable=False) from None
        except MCPError as exc:
            if exc.code == REQUEST_TIMEOUT:
                raise McpFailure(self._late(server), reachable=False) from None
            if _broken(exc):
                connection.close()
                raise McpFailure(_gone(server, exc.message), reachable=False) from None
            raise McpFailure(
                f"the MCP server {server.name!r} refused the call: {exc.message}", reachable=True
            ) from None
        except Exception as exc:
            connection.close()
            raise McpFailure(_gone(server, _described(exc)), reachable=False) from None
        connection.reused = True
        return RemoteResult(_text(result), bool(result.is_error))

    def _late(self, server: McpServer) -> str:
        return (
            f"the MCP server {server.name!r} did not answer within {self._timeout:g} s "
            "(BACKBEAT_MCP_TIMEOUT_SECONDS)"
        )

    async def aclose(self) -> None:
        held = list(self._connections.values())
        self._connections.clear()
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(each.aclose() for each in held if each.loop is loop))


class _Connection:
    """One server's client session, held open by a task of its own until `close()`."""

    def __init__(self, server: McpServer, timeout: float) -> None:
        self.server = server
        self.loop = asyncio.get_running_loop()
        self.reused = False  # it served a request already: a failure may mean it went stale
        self._timeout = timeout
        self._ready = asyncio.Event()
        self._closing = asyncio.Event()
        self._client: Client | None = None
        self._failure: str | None = None
        self._timed_out = False
        self._task = asyncio.create_task(self._hold(), name=f"mcp-server:{server.name}")

    def usable_for(self, server: McpServer) -> bool:
        return server == self.server and not self._closing.is_set() and not self._task.done()

    async def client(self) -> Client:
        """The connected client; McpFailure if it could not connect in time."""
        await asyncio.shield(self._ready.wait())
        if self._client is None:
            raise McpFailure(
                _gone(self.server, self._failure or "the connection closed"), reachable=False
            )
        return self._client

    async def _hold(self) -> None:
        deadline = self.loop.call_later(self._timeout, self._give_up)
        try:
            async with _session(self.server, self._timeout) as client:
                deadline.cancel()
                self._client = client
                self._ready.set()
                log.info(
                    "connected to an MCP server",
                    extra={
                        "event": "mcp.connected",
                        "server": self.server.name,
                        "transport": self.server.transport,
                    },
                )
                await self._closing.wait()
        except asyncio.CancelledError:
            if not self._timed_out:
                raise  # the worker is stopping
            self._failure = f"it did not answer within {self._timeout:g} s"
        except Exception as exc:
            self._failure = _described(exc)
        finally:
            deadline.cancel()
            self._client = None
            self._ready.set()
        if self._failure is not None:
            log.warning(
                "an MCP server could not be reached",
                extra={
                    "event": "mcp.unreachable",
                    "server": self.server.name,
                    "error": self._failure[:300],
                },
            )

    def _give_up(self) -> None:
        if not self._ready.is_set():
            self._timed_out = True
            self._task.cancel()

    def close(self) -> None:
        self._closing.set()

    async def aclose(self) -> None:
        self.close()
        try:
            async with asyncio.timeout(self._timeout):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
        except Exception:  # it failed on its own: reported when it did
            return


@asynccontextmanager
async def _session(server: McpServer, timeout: float) -> AsyncIterator[Client]:
    """A connected SDK client for the server (the protocol version negotiated by the SDK:
    the current one, or the initialize handshake of older servers)."""
    options: dict[str, Any] = {
        "cache": None,  # servers change: ask every time
        "client_info": Implementation(name="backbeat", version=__version__),
        "read_timeout_seconds": timeout,
    }
    if server.url is None:
        argv = server.argv
        parameters = StdioServerParameters(command=argv[0], args=argv[1:])
        async with Client(parameters, **options) as client:
            yield client
        return
    http = httpx2.AsyncClient(
        headers=dict(server.headers), timeout=httpx2.Timeout(timeout, read=SSE_READ_SECONDS)
    )
    transport = streamable_http_client(server.url, http_client=http)
    async with http, Client(transport, **options) as client:
        yield client


async def _all_tools(client: Client) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def _broken(exc: MCPError) -> bool:
    """The connection itself failed (not the request): make a new one next time."""
    return exc.code == CONNECTION_CLOSED or (
        exc.code == INVALID_REQUEST and exc.message == "Session terminated"
    )


def _gone(server: McpServer, why: str) -> str:
    return f"the MCP server {server.name!r} could not be reached: {why}"


def _described(exc: BaseException) -> str:
    """The first real failure in what the SDK raised (its task groups wrap them)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, MCPError):
        return exc.message
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text(result: CallToolResult) -> str:
    """The answer's content as text: text blocks as they are, text resources by their text,
    other media and binaries named, not included; the structured content when that is all."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResource):
            resource = block.resource
            if isinstance(resource, TextResourceContents):
                parts.append(resource.text)
            elif isinstance(resource, BlobResourceContents):
                parts.append(f"[binary resource {resource.uri} left out]")
        elif isinstance(block, ResourceLink):
            parts.append(f"[resource {block.uri}]")
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} left out]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)
