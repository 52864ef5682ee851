"""A 405 says which methods the resource has (RFC 9110 §15.5.6), in the error shape."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import assert_error
from tests.conftest import Tenant


def allowed(response: object) -> set[str]:
    header: str = response.headers["allow"]  # type: ignore[attr-defined]
    return {method.strip() for method in header.split(",")}


@pytest.mark.parametrize(
    ("method", "path", "methods"),
    [
        ("PUT", "/api/tasks", {"GET", "POST", "PATCH", "DELETE", "OPTIONS"}),
        ("TRACE", "/api/tasks", {"GET", "POST", "PATCH", "DELETE", "OPTIONS"}),
        ("HEAD", "/api/tasks", {"GET", "POST", "PATCH", "DELETE", "OPTIONS"}),
        ("POST", "/api/tasks/runs", {"GET", "OPTIONS"}),
        ("DELETE", "/api/tasks/runs", {"GET", "OPTIONS"}),
        ("GET", "/api/tasks/runs/trigger", {"POST", "OPTIONS"}),
        ("PUT", "/api/tasks/runs/cancel", {"POST", "OPTIONS"}),
        ("POST", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("PUT", "/dashboard/tasks/new", {"GET", "POST", "OPTIONS"}),
    ],
)
def test_405_carries_allow(
    client: TestClient, alice: Tenant, method: str, path: str, methods: set[str]
) -> None:
    response = client.request(method, path, headers=alice.headers)

    if method == "HEAD":  # no body
        assert response.status_code == 405
    else:
        assert_error(response, 405, "Method Not Allowed")
    assert allowed(response) == methods


def test_allow_lists_methods_in_a_stable_order(client: TestClient, alice: Tenant) -> None:
    response = client.put("/api/tasks", headers=alice.headers)

    assert response.headers["allow"] == "GET, POST, PATCH, DELETE, OPTIONS"


def test_405_without_credentials_carries_allow_too(client: TestClient) -> None:
    response = client.put("/api/tasks")

    assert response.status_code == 405
    assert "PATCH" in allowed(response)
    assert response.headers["access-control-allow-origin"] == "*"


def test_other_answers_carry_no_allow(client: TestClient, alice: Tenant) -> None:
    assert "allow" not in client.get("/api/tasks", headers=alice.headers).headers
    assert "allow" not in client.get("/api/nothing", headers=alice.headers).headers
