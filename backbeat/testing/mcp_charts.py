"""A small real MCP server, built with the official SDK, for tests: "charts", whose tools
answer about a made-up week of charts, wait, fail or answer too much on request.

Over Streamable HTTP on loopback, in a thread of the test process::

    with ChartsServer(token="s3cret") as charts:   # requests without the token: 401
        charts.url                                  # http://127.0.0.1:PORT/mcp
        charts.methods                              # the JSON-RPC methods it was sent
        charts.headers                              # each request's headers

`stop()` takes it down (a down server) and `start()` brings it back on the same port. Over
stdio, as a child of the client (the `--command` of a registered server)::

    python -m backbeat.testing.mcp_charts
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import anyio
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CHART = {
    "synthpop": ["Nova Lights - Neon Tide", "Glass Arcade - Static Hearts", "Vela - Afterglow"],
    "indie": ["The Quiet Hours - Porchlight", "Moss Lane - Ferries"],
}


def charts_server() -> MCPServer[Any]:
    # WARNING: a stdio server's log lines go to its client's stderr.
    server: MCPServer[Any] = MCPServer("charts", version="1.0", log_level="WARNING")

    @server.tool(description="This week's top songs of a genre, best first.")
    def top_songs(genre: str, count: int = 3) -> str:
        songs = CHART.get(genre.lower())
        if songs is None:
            raise ToolError(f"no chart for {genre!r}")  # the message reaches the client
        return "\n".join(f"{rank}. {song}" for rank, song in enumerate(songs[:count], 1))

    @server.tool(name="artist.streams", description="An artist's streams this week.")
    def artist_streams(artist: str) -> dict[str, Any]:
        return {"artist": artist, "streams": 1_234_567, "change_percent": 12.5}

    @server.tool(description="Answers after `seconds` (a slow server).")
    async def wait(seconds: float) -> str:
        await anyio.sleep(seconds)
        return f"waited {seconds:g} s"

    @server.tool(description="Never answers (a hung server).")
    async def hang() -> str:
        await anyio.sleep_forever()
        return "never"

    @server.tool(description="`size` characters of output.")
    def big(size: int) -> str:
        return "x" * size

    @server.tool(description="Always fails.")
    def broken() -> str:
        raise ToolError("the charts database is down")

    @server.tool(description="The server process's id.")
    def process_id() -> str:
        return str(os.getpid())

    return server


class _Recorder:
    """ASGI middleware: records each request's headers and JSON-RPC method, and answers 401
    to a request without the bearer token (when one is set)."""

    def __init__(self, app: ASGIApp, owner: ChartsServer) -> None:
        self._app = app
        self._owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self._owner.headers.append(headers)
        body = b""
        more = True
        messages: list[Message] = []
        while more:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            more = message.get("more_body", False) and message["type"] == "http.request"
        if body:
            with contextlib.suppress(ValueError, AttributeError):
                self._owner.methods.append(str(json.loads(body).get("method")))
        token = self._owner.token
        if token is not None and headers.get("authorization") != f"Bearer {token}":
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthorized"})
            return

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self._app(scope, replay, send)


@dataclass
class ChartsServer:
    token: str | None = None
    stateless: bool = False
    methods: list[str] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def start(self) -> None:
        mcp = charts_server()
        app = mcp.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=self.stateless,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            _Recorder(app, self), log_level="warning", lifespan="on", timeout_graceful_shutdown=1
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the charts MCP server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
            if self._thread.is_alive():  # an open stream holds it up
                self._server.force_exit = True
                self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> ChartsServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stdio_command() -> str:
    """The command line that serves "charts" over stdio, for `--command`."""
    return f"{sys.executable} -m backbeat.testing.mcp_charts"


if __name__ == "__main__":
    charts_server().run("stdio")
