"""The MCP server over a Backbeat: Streamable HTTP at `/mcp` inside the ASGI app, or stdio.

HTTP is stateless (`stateless_http`, JSON responses): every request carries its key and is
answered on its own, so nothing is lost when `backbeat serve` restarts and any process can
answer any request. The tools never call back into the client, so nothing needs a session.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from backbeat import __version__
from backbeat.mcp.auth import CallerSource, RequireKey, http_caller, key_caller
from backbeat.mcp.tools import task_tools
from backbeat.wiring import Backbeat

PATH = "/mcp"
INSTRUCTIONS = """\
Backbeat runs scheduled AI-agent tasks for music teams. A task pairs a prompt with an artist
and a cron schedule; at each fire an agent carries out the prompt and emails its report to
the team. Tasks belong to the account of the API key you connect with. Cron expressions are
evaluated in the task's timezone (IANA, default UTC); `upcoming` lists the next 5 fire times
in UTC. Use run_task_now to try a task at once and get_task_run_status to follow the run.
"""

# The key is sent in a header, never as a cookie, so a page that rebinds a hostname to this
# server gains nothing it could use: the SDK's Host/Origin allowlist (localhost only by
# default, which would refuse every deployed hostname) is not needed. CORS is the app's.
_TRANSPORT = TransportSecuritySettings(enable_dns_rebinding_protection=False)


def build_server(backbeat: Backbeat, caller_of: CallerSource) -> MCPServer[Any]:
    """The tools over `backbeat`, each call made as the caller `caller_of` finds."""
    with _host_logging_kept():
        return MCPServer(
            "backbeat",
            title="Backbeat",
            version=__version__,
            instructions=INSTRUCTIONS,
            tools=task_tools(backbeat, caller_of),
        )


@contextmanager
def _host_logging_kept() -> Iterator[None]:
    """The SDK's MCPServer configures the process's logging: on a root logger without
    handlers it adds a rich console handler and sets the level to INFO. Logging is the
    host's (ops/logs.py for Backbeat's commands; an embedding app, a test process its own):
    a process that had not configured it yet would otherwise render every INFO line of
    every library through rich, several milliseconds of CPU per HTTP request."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


class HttpEndpoint:
    """The key-checked Streamable HTTP endpoint. Its session manager runs only while
    `running()` is entered (in the host app's lifespan), and runs once: each run gets a new
    one, so an app whose lifespan runs again (tests, some servers) serves again."""

    def __init__(self, backbeat: Backbeat) -> None:
        self._backbeat = backbeat
        self._server = build_server(backbeat, http_caller)
        self.app: ASGIApp = RequireKey(self._handle, backbeat)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._server.session_manager.asgi_app(scope, receive, send)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        self._server.streamable_http_app(  # makes a new session manager
            streamable_http_path=PATH,
            json_response=True,
            stateless_http=True,
            max_request_body_size=self._backbeat.settings.max_body_bytes,
            transport_security=_TRANSPORT,
        )
        async with self._server.session_manager.run():
            yield


Lifespan = Callable[[Any], AbstractAsyncContextManager[Any]]


def install(app: Any, backbeat: Backbeat) -> None:
    """Serve MCP at `/mcp` in a Starlette or FastAPI `app`: the route, and its session
    manager run inside the app's lifespan (a mounted app's own lifespan never runs)."""
    endpoint = HttpEndpoint(backbeat)
    app.router.routes.append(Route(PATH, endpoint=endpoint.app))
    previous: Lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> AsyncIterator[Any]:
        async with endpoint.running(), previous(owner) as state:
            yield state

    app.router.lifespan_context = lifespan


async def serve_stdio(backbeat: Backbeat, key: str) -> None:
    """MCP over this process's stdin and stdout, as the account `key` belongs to."""
    await build_server(backbeat, key_caller(backbeat, key)).run_stdio_async()
