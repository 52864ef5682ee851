"""`/mcp` in the one ASGI app (backbeat.asgi), in process: key-checked like the API, and
serving again each time the app's lifespan runs."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.wiring import Backbeat
from tests.conftest import Tenant

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
ACCEPT = {"accept": "application/json, text/event-stream"}


def initialize(client: TestClient, **headers: str) -> Any:
    return client.post("/mcp", json=INITIALIZE, headers={**ACCEPT, **headers})


def test_mcp_is_served_in_the_app_each_time_its_lifespan_runs(
    backbeat: Backbeat, alice: Tenant
) -> None:
    app = create_app(backbeat)
    for _ in range(2):
        with TestClient(app) as client:
            response = initialize(client, **{"x-api-key": alice.key})
            assert response.status_code == 200, response.text
            assert response.json()["result"]["serverInfo"]["name"] == "backbeat"
            bearer = initialize(client, authorization=f"Bearer {alice.key}")
            assert bearer.status_code == 200, bearer.text


def test_mcp_without_a_key_answers_the_apis_401(client: TestClient) -> None:
    response = initialize(client)
    assert response.status_code == 401
    message = "Exactly one of x-api-key or Authorization must be provided"
    assert response.json() == {"status": "error", "error": message, "message": message}
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["access-control-allow-origin"] == "*"  # the app's CORS
    unknown = initialize(client, **{"x-api-key": "bbk_" + "z" * 43})
    assert unknown.status_code == 401
    assert unknown.json()["error"] == "Unauthorized"


def test_building_the_app_leaves_the_process_logging_alone(
    backbeat: Backbeat, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SDK's MCPServer would give an unconfigured root logger a rich console handler at
    INFO (basicConfig): every library's INFO line rendered, milliseconds per request."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # a process that has not configured logging
    monkeypatch.setattr(root, "level", logging.WARNING)
    create_app(backbeat)
    assert root.handlers == []
    assert root.level == logging.WARNING
