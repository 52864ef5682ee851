"""While the database is unreachable, the API and the dashboard answer 503, not 500.

The app runs in-process (a TestClient) on a private PostgreSQL cluster that the test stops,
and whose sessions it cuts in the middle of a request. Every /api answer is a 503 in the
documented error shape with Retry-After; every dashboard page a 503 page (its JSON endpoints
503 JSON). Each is logged once, as a warning (`api.db_unavailable`) without a traceback:
an outage is an outage, not a bug. Once the database is back, the same app answers 200.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
import psycopg
import pytest
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.edge.errors import database_unavailable
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.testing import FakeClock
from backbeat.testing.databases import migrate
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_backbeat, make_tenant
from tests.dashboard.helpers import Dashboard, Page, signed_in
from tests.faults.pg_cluster import PgCluster

pytestmark = pytest.mark.postgres

DATABASE = "backbeat"
EVENT = "api.db_unavailable"
TIMEOUT = 30.0


@pytest.fixture
def app(pg_cluster: PgCluster) -> Iterator[Backbeat]:
    url = pg_cluster.create_database(DATABASE)
    migrate(url)
    backbeat = make_backbeat(url, FakeClock(datetime(2026, 1, 5, 12, 0, tzinfo=UTC)))
    yield backbeat
    backbeat.close()


@pytest.fixture
def client(app: Backbeat) -> Iterator[TestClient]:
    with TestClient(create_app(app), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def tenant(app: Backbeat) -> Tenant:
    return make_tenant(app, "outage@example.com")


def a_task(app: Backbeat, tenant: Tenant) -> str:
    caller = Caller(tenant.account_id, tenant.key_id(app))
    draft = TaskDraft("Pulse", "Weekly pulse", "0 9 * * 4", tenant.artist_id)
    return str(app.tasks.create(caller, draft).task.id)


class Answer(Protocol):
    """An HTTP response (the test client's, from httpx or httpx2)."""

    status_code: int

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def text(self) -> str: ...

    def json(self) -> Any: ...


def assert_api_unavailable(response: Answer) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert int(response.headers["retry-after"]) > 0
    body = response.json()
    assert body["status"] == "error"
    assert body["error"] == body["message"]
    assert "database" in body["message"].lower()
    assert set(body) == {"status", "error", "message"}


def assert_page_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert int(response.headers["retry-after"]) > 0
    assert response.headers["cache-control"] == "no-store"
    page = Page(response)
    assert "database" in page.text("problem-message").lower()


def records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("backbeat")]


def test_an_unreachable_database_answers_503_and_nothing_is_logged_as_a_bug(
    pg_cluster: PgCluster,
    app: Backbeat,
    client: TestClient,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    task_id = a_task(app, tenant)
    run_id = client.post(
        "/api/tasks/runs/trigger", json={"task_id": task_id}, headers=tenant.headers
    ).json()["runs"][0]["id"]
    dashboard = signed_in(client, tenant)
    stranger = Dashboard(TestClient(client.app, raise_server_exceptions=False))
    stranger.get("/")  # a sign-in form and its CSRF token, fetched before the outage
    assert client.get("/api/tasks", headers=tenant.headers).status_code == 200

    pg_cluster.stop()
    caplog.clear()
    caplog.set_level(logging.INFO)
    requests: list[tuple[str, str, dict[str, str], object]] = [
        ("GET", "/api/tasks", tenant.headers, None),
        ("GET", "/api/tasks/runs", tenant.headers, None),
        ("POST", "/api/tasks/runs/trigger", tenant.headers, {"task_id": task_id}),
        ("GET", "/api/tasks", {"x-api-key": "bbk_" + "x" * 40}, None),  # unknown, unchecked
    ]
    for method, path, headers, body in requests:
        assert_api_unavailable(client.request(method, path, headers=headers, json=body))
    assert_page_unavailable(dashboard.raw_get("/dashboard/tasks"))
    assert_page_unavailable(dashboard.raw_get(f"/dashboard/tasks/{task_id}"))
    assert_page_unavailable(stranger.post("/dashboard/sign-in", {"key": tenant.key}))
    status = dashboard.raw_get(f"/dashboard/runs/{run_id}/status")
    assert status.status_code == 503
    assert int(status.headers["retry-after"]) > 0
    assert "database" in status.json()["error"].lower()

    # One warning per refused request, with the driver's reason and no traceback; no error.
    logged = records(caplog)
    warnings = [r for r in logged if getattr(r, "event", "") == EVENT]
    assert len(warnings) == len(requests) + 4, [r.getMessage() for r in logged]
    for record in warnings:
        assert record.levelno == logging.WARNING
        assert record.exc_info is None
        assert getattr(record, "error", "")
    assert [r.getMessage() for r in logged if r.levelno >= logging.ERROR] == []

    # Back: the pool replaces its dead connections, the same app answers at once.
    pg_cluster.start()
    assert client.get("/api/tasks", headers=tenant.headers).status_code == 200
    assert dashboard.raw_get("/dashboard/tasks").status_code == 200


def test_a_session_cut_in_the_middle_of_a_request_answers_503(
    pg_cluster: PgCluster,
    app: Backbeat,
    client: TestClient,
    tenant: Tenant,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a_task(app, tenant)
    assert client.get("/api/tasks", headers=tenant.headers).status_code == 200
    answers: list[Answer] = []
    caplog.set_level(logging.INFO)
    with psycopg.connect(pg_cluster.libpq_url(DATABASE), autocommit=True) as admin:
        with admin.transaction():
            admin.execute("LOCK TABLE tasks IN ACCESS EXCLUSIVE MODE")
            request = threading.Thread(
                target=lambda: answers.append(client.get("/api/tasks", headers=tenant.headers))
            )
            request.start()
            deadline = time.monotonic() + TIMEOUT
            while not blocked_on_tasks(admin):
                assert time.monotonic() < deadline, "the request never reached the tasks table"
                time.sleep(0.01)
            assert terminate_others(admin) >= 1
        request.join(timeout=TIMEOUT)
    [answer] = answers
    assert_api_unavailable(answer)
    [warning] = [r for r in records(caplog) if getattr(r, "event", "") == EVENT]
    assert "terminating connection" in getattr(warning, "error", "")
    assert [r.getMessage() for r in records(caplog) if r.levelno >= logging.ERROR] == []
    assert client.get("/api/tasks", headers=tenant.headers).status_code == 200


def blocked_on_tasks(admin: psycopg.Connection[tuple[Any, ...]]) -> bool:
    row = admin.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
    ).fetchone()
    return row is not None and int(row[0]) > 0


def terminate_others(admin: psycopg.Connection[tuple[Any, ...]]) -> int:
    """Cut every session of the database but `admin`'s own (which holds the lock)."""
    row = admin.execute(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_what_counts_as_the_database_being_unavailable() -> None:
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert database_unavailable(refused)
    assert database_unavailable(PoolTimeout("QueuePool limit of size 5 overflow 5 reached"))
    cut = DBAPIError("SELECT 1", {}, Exception("server closed the connection"))
    cut.connection_invalidated = True
    assert database_unavailable(cut)
    # A bug stays a bug (a 500 with its traceback): a refused constraint, a plain DBAPI error.
    assert not database_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_unavailable(DBAPIError("SELECT 1", {}, Exception("syntax error")))
    assert not database_unavailable(ValueError("no"))
