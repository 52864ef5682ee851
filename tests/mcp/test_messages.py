"""A bad argument answers a tool error carrying exactly the API's error body for the same
mistake: the same request models, the same messages, the same `missing_fields`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.mcp.auth import key_caller
from backbeat.mcp.server import build_server
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_backbeat
from tests.mcp.helpers import call, refused

MISSING = "00000000-0000-4000-8000-000000000000"  # a valid UUID no task has
TASK = {"title": "t", "prompt": "p", "schedule": "0 9 * * 1"}


@pytest.fixture
def backbeat(sqlite_url: str, clock: FakeClock) -> Iterator[Backbeat]:
    """Messages do not depend on the database: SQLite only."""
    app = make_backbeat(sqlite_url, clock)
    yield app
    app.close()


# (tool, arguments, the API request making the same mistake: method, path, query, body)
Case = tuple[str, dict[str, Any], str, str, dict[str, str], Any]
ARTIST = "ARTIST"  # replaced by the tenant's artist

CASES: list[Case] = [
    ("create_task", {}, "POST", "/api/tasks", {}, {}),
    ("create_task", {**TASK, "title": 5}, "POST", "/api/tasks", {}, {**TASK, "title": 5}),
    ("create_task", {**TASK, "title": ""}, "POST", "/api/tasks", {}, {**TASK, "title": ""}),
    (
        "create_task",
        {**TASK, "artist_account_id": ARTIST, "foo": 1},
        "POST",
        "/api/tasks",
        {},
        {**TASK, "artist_account_id": ARTIST, "foo": 1},
    ),
    (
        "create_task",
        {**TASK, "artist_account_id": "nope"},
        "POST",
        "/api/tasks",
        {},
        {**TASK, "artist_account_id": "nope"},
    ),
    (
        "create_task",
        {**TASK, "artist_account_id": ARTIST, "timezone": "Mars/Olympus"},
        "POST",
        "/api/tasks",
        {},
        {**TASK, "artist_account_id": ARTIST, "timezone": "Mars/Olympus"},
    ),
    (
        "create_task",
        {**TASK, "artist_account_id": ARTIST, "schedule": "every day"},
        "POST",
        "/api/tasks",
        {},
        {**TASK, "artist_account_id": ARTIST, "schedule": "every day"},
    ),
    ("update_task", {}, "PATCH", "/api/tasks", {}, {}),
    ("update_task", {"id": "x"}, "PATCH", "/api/tasks", {}, {"id": "x"}),
    (
        "update_task",
        {"id": MISSING, "enabled": "false"},
        "PATCH",
        "/api/tasks",
        {},
        {"id": MISSING, "enabled": "false"},
    ),
    (
        "update_task",
        {"id": MISSING, "title": ""},
        "PATCH",
        "/api/tasks",
        {},
        {"id": MISSING, "title": ""},
    ),
    ("update_task", {"id": MISSING}, "PATCH", "/api/tasks", {}, {"id": MISSING}),
    ("delete_task", {"id": "nope"}, "DELETE", "/api/tasks", {}, {"id": "nope"}),
    ("delete_task", {"id": MISSING}, "DELETE", "/api/tasks", {}, {"id": MISSING}),
    ("run_task_now", {}, "POST", "/api/tasks/runs/trigger", {}, {}),
    (
        "run_task_now",
        {"task_id": "nope"},
        "POST",
        "/api/tasks/runs/trigger",
        {},
        {"task_id": "nope"},
    ),
    ("cancel_run", {"runId": ""}, "POST", "/api/tasks/runs/cancel", {}, {"runId": ""}),
    ("cancel_run", {"runId": "run_x"}, "POST", "/api/tasks/runs/cancel", {}, {"runId": "run_x"}),
    ("get_task_run_status", {"runId": "run_x"}, "GET", "/api/tasks/runs", {"runId": "run_x"}, None),
    ("get_tasks", {"id": "nope"}, "GET", "/api/tasks", {"id": "nope"}, None),
    ("get_tasks", {"artist_id": "x"}, "GET", "/api/tasks", {"artist_id": "x"}, None),
    ("list_runs", {"limit": 0}, "GET", "/api/tasks/runs", {"limit": "0"}, None),
    ("list_runs", {"limit": 101}, "GET", "/api/tasks/runs", {"limit": "101"}, None),
    ("list_runs", {"limit": "abc"}, "GET", "/api/tasks/runs", {"limit": "abc"}, None),
    ("list_runs", {"limit": 1.5}, "GET", "/api/tasks/runs", {"limit": "1.5"}, None),
    ("list_runs", {"status": "DONE"}, "GET", "/api/tasks/runs", {"status": "DONE"}, None),
    ("list_runs", {"task_id": "nope"}, "GET", "/api/tasks/runs", {"task_id": "nope"}, None),
]


def _with_artist(value: Any, artist: str) -> Any:
    if isinstance(value, dict):
        return {key: artist if item == ARTIST else item for key, item in value.items()}
    return value


@pytest.mark.parametrize(
    ("tool", "arguments", "method", "path", "query", "body"),
    CASES,
    ids=[f"{case[0]}-{index}" for index, case in enumerate(CASES)],
)
def test_a_bad_argument_answers_the_apis_error(
    backbeat: Backbeat,
    client: TestClient,
    alice: Tenant,
    tool: str,
    arguments: dict[str, Any],
    method: str,
    path: str,
    query: dict[str, str],
    body: Any,
) -> None:
    artist = str(alice.artist_id)
    api = client.request(
        method,
        path,
        params=query,
        json=_with_artist(body, artist),
        headers=alice.headers,
    )
    assert api.status_code >= 400, api.text
    server = build_server(backbeat, key_caller(backbeat, alice.key))
    answered = refused(call(server, tool, _with_artist(arguments, artist)))
    assert answered == api.json()


def test_null_filters_mean_not_given(backbeat: Backbeat, alice: Tenant) -> None:
    """Models often send null for an optional filter: it filters nothing, as absent."""
    server = build_server(backbeat, key_caller(backbeat, alice.key))
    result = call(server, "get_tasks", {"id": None, "enabled": None, "account_id": None})
    assert not result.is_error
    result = call(server, "list_runs", {"limit": None, "status": None, "task_id": None})
    assert not result.is_error
