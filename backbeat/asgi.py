"""The one ASGI application `backbeat serve` runs: the API, the dashboard and the MCP server
mounted side by side on the app-wide error handling and middleware. The only module that
knows every front door; none of them imports another."""

from __future__ import annotations

from fastapi import FastAPI

from backbeat import dashboard
from backbeat.api import app as api
from backbeat.edge import errors
from backbeat.edge.middleware import (
    AllowMiddleware,
    BodyLimitMiddleware,
    CorsMiddleware,
    ErrorBoundaryMiddleware,
    MetricsMiddleware,
)
from backbeat.mcp import server as mcp
from backbeat.wiring import Backbeat


def create_app(backbeat: Backbeat) -> FastAPI:
    app = FastAPI(**api.APP_INFO)
    app.state.backbeat = backbeat
    errors.install(app)
    api.mount(app)
    app.include_router(dashboard.router)  # the pages at / and /dashboard (HTML, own headers)
    mcp.install(app, backbeat)  # /mcp (Streamable HTTP); its sessions run in the app's lifespan
    # Added last is outermost: CORS wraps everything, so even a 413 or a 500 carries it.
    app.add_middleware(AllowMiddleware)  # inside the boundary: it only edits a 405's headers
    app.add_middleware(ErrorBoundaryMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=backbeat.settings.max_body_bytes)
    app.add_middleware(CorsMiddleware, origins=backbeat.settings.cors_origins)
    app.add_middleware(
        MetricsMiddleware, metrics=backbeat.metrics
    )  # outermost: times and counts every request
    return app
