"""The API's part of the application: its routes, its OpenAPI document and its docs page.
The one ASGI app that also serves the dashboard and MCP is assembled in backbeat.asgi."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, TypeAdapter

from backbeat import __version__
from backbeat.api import usage_docs, webhook_docs
from backbeat.api.docs import RESPONSE_MODELS
from backbeat.api.routes import metrics as metrics_routes
from backbeat.api.routes import ops, runs, tasks, usage, webhooks
from backbeat.edge.requests import (
    CancelRunRequest,
    CreateTaskRequest,
    DeleteTaskRequest,
    TriggerRunRequest,
    UpdateTaskRequest,
)
from backbeat.edge.webhooks import (
    CreateWebhookRequest,
    EnableWebhookRequest,
    RotateWebhookRequest,
)

DESCRIPTION = """\
Backbeat runs scheduled AI-agent tasks for music teams and implements the Recoup Tasks API.

Every `/api` operation needs exactly one of `x-api-key: <key>` or `Authorization: Bearer <key>`.
Errors are `{"status": "error", "error": text, "message": text}`, plus `missing_fields` (the
path of the first failing field) on validation failures. Fields and parameters marked
`x-backbeat-extension` are Backbeat additions to the Recoup contract.
"""

REQUEST_MODELS: list[type[BaseModel]] = [
    CreateTaskRequest,
    UpdateTaskRequest,
    DeleteTaskRequest,
    TriggerRunRequest,
    CancelRunRequest,
    CreateWebhookRequest,
    RotateWebhookRequest,
    EnableWebhookRequest,
]


# How the app presents itself: its OpenAPI document is the API's.
APP_INFO: dict[str, Any] = {
    "title": "Backbeat: Recoup Tasks API",
    "version": __version__,
    "description": DESCRIPTION,
    "docs_url": "/docs",
    "redoc_url": None,
    "openapi_url": "/openapi.json",
}


def mount(app: FastAPI) -> None:
    """The API's routes, and the OpenAPI document built from them."""
    app.include_router(tasks.router)
    app.include_router(runs.router)
    app.include_router(webhooks.router)  # /api/webhooks: an extension
    app.include_router(usage.router)  # /api/accounts/usage: an extension
    app.include_router(metrics_routes.router)  # /metrics: no auth, no tenant data
    app.include_router(ops.router)  # /healthz, /readyz: no auth, no tenant data

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = build_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    schema = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    extensions = [*webhook_docs.RESPONSE_MODELS, *usage_docs.RESPONSE_MODELS]
    for model in [*REQUEST_MODELS, *RESPONSE_MODELS, *extensions]:
        body = TypeAdapter(model).json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(body.pop("$defs", {}))
        schemas[model.__name__] = body
    components["securitySchemes"] = {
        "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "x-api-key"},
        "bearerAuth": {"type": "http", "scheme": "bearer"},
    }
    security: list[dict[str, list[str]]] = [{"apiKeyAuth": []}, {"bearerAuth": []}]
    schema["security"] = security
    for path, operations in schema["paths"].items():
        if path.startswith("/api/"):
            for operation in operations.values():
                operation["security"] = security
    return schema
