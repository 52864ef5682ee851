"""Who is calling over MCP: an API key, checked exactly as the API checks it.

Over HTTP, every request to `/mcp` must carry exactly one of `x-api-key: <key>` or
`Authorization: Bearer <key>`; anything else is refused with the API's 401 body before the
MCP layer reads the request. Over stdio, the key comes from BACKBEAT_MCP_API_KEY and is
checked again at every tool call, so a revoked or expired key stops working at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from mcp.server.mcpserver import Context
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from backbeat.domain.errors import NotAuthenticated
from backbeat.edge.credentials import check_key, presented_key
from backbeat.edge.errors import error_response
from backbeat.services.keys import Caller
from backbeat.wiring import Backbeat

KEY_VARIABLE = "BACKBEAT_MCP_API_KEY"
# Where RequireKey leaves the authenticated caller in the ASGI scope for the tools to read.
CALLER_SCOPE_KEY = "backbeat.mcp.caller"

CallerSource = Callable[[Context[Any, Any]], Caller]
"""How a tool call finds its caller (HTTP: the request's key; stdio: the environment's)."""


def refusal(exc: NotAuthenticated) -> Response:
    """The API's 401 (`{"status": "error", "error": text, "message": text}`), with the
    challenge an HTTP client expects."""
    response = error_response(exc)
    response.headers["www-authenticate"] = "Bearer"
    return response


class RequireKey:
    """ASGI wrapper of the MCP endpoint: a request without a valid key goes no further."""

    def __init__(self, app: ASGIApp, backbeat: Backbeat) -> None:
        self._app = app
        self._backbeat = backbeat

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            key = presented_key(headers)
            caller = await anyio.to_thread.run_sync(check_key, self._backbeat, key)
        except NotAuthenticated as exc:
            await refusal(exc)(scope, receive, send)
            return
        scope[CALLER_SCOPE_KEY] = caller
        await self._app(scope, receive, send)


def http_caller(ctx: Context[Any, Any]) -> Caller:
    """The caller RequireKey authenticated for the HTTP request carrying this call."""
    request = ctx.request_context.request
    scope = getattr(request, "scope", None)
    caller = scope.get(CALLER_SCOPE_KEY) if isinstance(scope, dict) else None
    if not isinstance(caller, Caller):  # not behind RequireKey: refuse rather than guess
        raise NotAuthenticated("Unauthorized")
    return caller


def key_caller(backbeat: Backbeat, key: str) -> CallerSource:
    """stdio: the one key the process was started with, checked at every call."""

    def caller(_ctx: Context[Any, Any]) -> Caller:
        return check_key(backbeat, key)

    return caller
