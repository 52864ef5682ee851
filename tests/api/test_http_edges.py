"""What every response shares: CORS, the error shape, the body limit, no bare 500s."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, task_body
from tests.conftest import Tenant, make_backbeat

CORS = {
    "access-control-allow-origin": "*",
    "access-control-allow-methods": "GET, POST, PUT, DELETE, OPTIONS, PATCH",
    "access-control-allow-headers": "Content-Type, Authorization, X-Requested-With, x-api-key",
}


@pytest.mark.parametrize("path", ["/api/tasks", "/api/tasks/runs"])
def test_preflight_answers_200_without_credentials(client: TestClient, path: str) -> None:
    response = client.options(
        path,
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "PATCH"},
    )
    assert response.status_code == 200
    for name, value in CORS.items():
        assert response.headers[name] == value


def test_every_response_carries_cors(client: TestClient, alice: Tenant) -> None:
    for response in (
        client.get("/api/tasks", headers=alice.headers),
        client.get("/api/tasks"),
        client.post("/api/tasks", content=b"{", headers=alice.headers),
        client.get("/nowhere"),
    ):
        for name, value in CORS.items():
            assert response.headers[name] == value


@pytest.fixture
def restricted(sqlite_url: str, clock: FakeClock) -> Iterator[TestClient]:
    app = make_backbeat(sqlite_url, clock, cors_origins=["https://app.recoup.example"])
    with TestClient(create_app(app)) as client:
        yield client
    app.close()


def test_configured_origins_are_echoed(restricted: TestClient) -> None:
    allowed = restricted.get("/api/tasks", headers={"Origin": "https://app.recoup.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.recoup.example"
    assert allowed.headers["vary"] == "Origin"
    other = restricted.get("/api/tasks", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_bodies_over_the_limit_are_413_before_parsing(client: TestClient, alice: Tenant) -> None:
    big = b'{"title": "' + b"x" * 1_100_000 + b'"}'
    response = client.post("/api/tasks", content=big, headers=alice.headers)
    assert_error(response, 413, "Request body is larger than the 1048576 bytes this server accepts")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        for _ in range(20):
            yield b"x" * 60_000

    response = client.post("/api/tasks", content=chunks(), headers=alice.headers)
    assert response.status_code == 413


def test_unknown_paths_and_methods_answer_in_the_error_shape(
    client: TestClient, alice: Tenant
) -> None:
    assert_error(client.get("/api/nothing", headers=alice.headers), 404, "Not Found")
    assert_error(client.put("/api/tasks", headers=alice.headers), 405, "Method Not Allowed")


def test_an_unexpected_failure_is_a_500_in_the_error_shape(
    client: TestClient, backbeat: Backbeat, alice: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(backbeat.tasks, "create", explode)
    response = client.post("/api/tasks", json=task_body(alice), headers=alice.headers)

    assert_error(response, 500, "Internal server error")
    assert response.headers["access-control-allow-origin"] == "*"
