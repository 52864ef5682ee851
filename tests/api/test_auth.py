"""Credentials: exactly one of x-api-key or Bearer; checked before the body; never logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import text
from starlette.testclient import TestClient

from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, task_body
from tests.conftest import Tenant

PATHS = [
    ("GET", "/api/tasks"),
    ("POST", "/api/tasks"),
    ("PATCH", "/api/tasks"),
    ("DELETE", "/api/tasks"),
    ("GET", "/api/tasks/runs"),
]


@pytest.mark.parametrize(("method", "path"), PATHS)
def test_no_credentials(client: TestClient, method: str, path: str) -> None:
    assert_error(
        client.request(method, path),
        401,
        "Exactly one of x-api-key or Authorization must be provided",
    )


def test_both_credentials(client: TestClient, alice: Tenant) -> None:
    headers = {"x-api-key": alice.key, "Authorization": f"Bearer {alice.key}"}
    assert_error(
        client.get("/api/tasks", headers=headers),
        401,
        "Exactly one of x-api-key or Authorization must be provided",
    )


@pytest.mark.parametrize("value", ["Basic abc", "Token x", "Bearer", "Bearer   ", "bearerx"])
def test_authorization_must_be_bearer(client: TestClient, value: str) -> None:
    assert_error(
        client.get("/api/tasks", headers={"Authorization": value}),
        401,
        "Authorization header with Bearer token required",
    )


@pytest.mark.parametrize("scheme", ["Bearer", "bearer"])
def test_a_bearer_api_key_works(client: TestClient, alice: Tenant, scheme: str) -> None:
    response = client.get("/api/tasks", headers={"Authorization": f"{scheme} {alice.key}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    "key",
    [
        "",
        "nope",
        "bbk_" + "A" * 43,
        "bbk_short",
        "Bearer-ish",
        ("bbk_" + "é" * 43).encode("latin-1"),
    ],
)
def test_unknown_keys(client: TestClient, key: str | bytes) -> None:
    assert_error(client.get("/api/tasks", headers={"x-api-key": key}), 401, "Unauthorized")


def test_revoked_and_expired_keys(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    expiring = backbeat.admin.create_key(
        alice.account_id, expires_at=clock.now() + timedelta(hours=1)
    )
    headers = {"x-api-key": expiring.secret_value}
    assert client.get("/api/tasks", headers=headers).status_code == 200

    clock.advance(hours=1)
    assert_error(client.get("/api/tasks", headers=headers), 401, "Unauthorized")

    backbeat.admin.revoke_key(alice.key_id(backbeat))
    assert_error(client.get("/api/tasks", headers=alice.headers), 401, "Unauthorized")


def test_credentials_are_checked_before_the_body(client: TestClient) -> None:
    response = client.post("/api/tasks", content=b"not json")
    assert response.status_code == 401
    response = client.post("/api/tasks", content=b"not json", headers={"x-api-key": "bbk_x"})
    assert_error(response, 401, "Unauthorized")


def test_keys_are_stored_only_as_hashes(backbeat: Backbeat, alice: Tenant) -> None:
    with backbeat.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM api_keys")).all()
    stored = " ".join(str(value) for row in rows for value in row)
    assert alice.key not in stored
    assert alice.key[10:] not in stored  # only a short hint of the key is kept


def test_keys_never_reach_the_logs(
    client: TestClient, alice: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/api/tasks", headers=alice.headers)
    client.post("/api/tasks", json=task_body(alice, title=""), headers=alice.headers)
    client.get("/api/tasks", headers={"x-api-key": alice.key + "x"})

    assert alice.key not in caplog.text
