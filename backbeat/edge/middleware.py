"""ASGI middleware: CORS as the real service sends it, a body limit, a last-resort 500, the
`Allow` header of a 405, and the HTTP metrics."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from backbeat.domain.metrics import Recorder
from backbeat.ops.metrics import OTHER

log = logging.getLogger("backbeat.api")

ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS, PATCH"
ALLOWED_HEADERS = "Content-Type, Authorization, X-Requested-With, x-api-key"


def error_bytes(message: str) -> bytes:
    return orjson.dumps({"status": "error", "error": message, "message": message})


async def send_error(send: Send, status: int, message: str) -> None:
    body = error_bytes(message)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class CorsMiddleware:
    """Every response carries the CORS headers; OPTIONS on any path is a 200 preflight."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.any_origin = "*" in origins
        self.origins = {origin.rstrip("/") for origin in origins}

    def _headers(self, scope: Scope) -> list[tuple[bytes, bytes]]:
        headers = [
            (b"access-control-allow-methods", ALLOWED_METHODS.encode()),
            (b"access-control-allow-headers", ALLOWED_HEADERS.encode()),
        ]
        if self.any_origin:
            return [(b"access-control-allow-origin", b"*"), *headers]
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
        headers.append((b"vary", b"Origin"))
        if origin.rstrip("/") in self.origins:
            headers.insert(0, (b"access-control-allow-origin", origin.encode("latin-1")))
        return headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cors = self._headers(scope)
        if scope["method"] == "OPTIONS":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        *cors,
                        (b"access-control-max-age", b"86400"),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *cors]
            await send(message)

        await self.app(scope, receive, send_with_cors)


class BodyLimitMiddleware:
    """Refuse bodies over `limit` bytes with a 413 before anything parses them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_large = f"Request body is larger than the {self.limit} bytes this server accepts"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await send_error(send, 400, "Content-Length must be a number")
                return
            if declared > self.limit:
                await send_error(send, 413, too_large)
                return
        # Read the whole body (it is small or refused), then hand it on in one message.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await send_error(send, 413, too_large)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class ErrorBoundaryMiddleware:
    """An unexpected exception becomes a 500 in the documented error shape, and is logged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception(
                "request failed", extra={"event": "http.error", "path": scope.get("path")}
            )
            if not started:
                await send_error(send, 500, "Internal server error")


# The order an Allow header lists methods in; any others follow, sorted.
_METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class AllowMiddleware:
    """A 405 carries `Allow` (RFC 9110 §15.5.6): the methods of every route for the path,
    and OPTIONS, which CorsMiddleware answers on any path. The router alone would name the
    methods of the first matching route only, and the error handler drops its headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._routes: RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 405:
                if self._routes is None:  # every route is registered by the first request
                    self._routes = RouteTable(getattr(scope.get("app"), "routes", ()))
                allowed = self._routes.allowed(scope["path"])
                if allowed is not None:
                    headers = [
                        (name, value)
                        for name, value in message.get("headers", [])
                        if name.lower() != b"allow"
                    ]
                    headers.append((b"allow", ", ".join(allowed).encode("ascii")))
                    message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_allow)


class MetricsMiddleware:
    """Count every HTTP request by route template ("/api/tasks", never the path as sent, so
    no id reaches a label; "other" for paths no route has), method and status, and time it.
    Outermost, so refusals (413) and CORS preflights count too, under their route."""

    def __init__(self, app: ASGIApp, metrics: Recorder) -> None:
        self.app = app
        self._metrics = metrics
        self._routes: RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        if self._routes is None:  # at the first request: every route is registered by then
            self._routes = RouteTable(getattr(scope.get("app"), "routes", ()))
        route = self._routes.template(scope["path"], scope["method"])
        status = 500  # unless a response starts

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            seconds = time.perf_counter() - started
            self._metrics.http_request(route, scope["method"], status, seconds)


class RouteTable:
    """The application's route templates, matched as its router matches them: the first
    route for the path and method, else the first for the path (a 405, a preflight)."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._entries: list[tuple[re.Pattern[str], str, frozenset[str] | None]] = []
        for route in _flat(routes):
            regex = getattr(route, "path_regex", None)
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            if isinstance(regex, re.Pattern) and isinstance(template, str):
                methods = getattr(route, "methods", None)
                allowed = None if methods is None else frozenset(methods)
                self._entries.append((regex, template, allowed))

    def allowed(self, path: str) -> list[str] | None:
        """The methods the routes for `path` answer, and OPTIONS; None if a route for it
        takes any method, or none matches."""
        methods = {"OPTIONS"}
        matched = False
        for regex, _template, route_methods in self._entries:
            if regex.match(path):
                if route_methods is None:
                    return None
                matched = True
                methods |= route_methods
        if not matched:
            return None
        known = [method for method in _METHOD_ORDER if method in methods]
        return known + sorted(methods - set(_METHOD_ORDER))

    def template(self, path: str, method: str) -> str:
        fallback: str | None = None
        for regex, template, methods in self._entries:
            if regex.match(path):
                if methods is None or method in methods:
                    return template
                fallback = fallback or template
        return fallback or OTHER


def _flat(routes: Sequence[BaseRoute]) -> Sequence[Any]:
    """Routes with their full paths. FastAPI from 0.16x keeps included routers whole
    (their routes have no prefix); iter_route_contexts gives each route as served."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # pragma: no cover - older FastAPI: app.routes is already flat
        return routes
    return list(iter_route_contexts(routes))
