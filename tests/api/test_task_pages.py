"""GET /api/tasks a page at a time (extension): `limit` and `cursor`, `next_cursor` back.
Without either, every task in one answer, as Recoup lists them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.testing import FakeClock
from tests.api.helpers import assert_error, create_task, list_tasks
from tests.api.test_run_cursors import FORGED, MESSAGE, encoded
from tests.conftest import Tenant


def page(client: TestClient, tenant: Tenant, **params: Any) -> dict[str, Any]:
    response = client.get("/api/tasks", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def walk(client: TestClient, tenant: Tenant, **params: Any) -> list[list[str]]:
    """Every page's task ids, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        body = page(client, tenant, **params, **({} if cursor is None else {"cursor": cursor}))
        pages.append([task["id"] for task in body["tasks"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


def test_without_limit_or_cursor_every_task_and_no_cursor(
    client: TestClient, alice: Tenant
) -> None:
    for _ in range(3):
        create_task(client, alice)

    body = page(client, alice)

    assert len(body["tasks"]) == 3
    assert "next_cursor" not in body  # Recoup's answer, unchanged


def test_pages_walk_the_whole_listing_once_ties_included(
    client: TestClient, clock: FakeClock, alice: Tenant, bob: Tenant
) -> None:
    for number in range(7):
        create_task(client, alice, title=f"task {number}")
        if number % 3 == 2:  # tasks 0-2 and 3-5 share their creation instants
            clock.advance(seconds=1)
    create_task(client, bob)
    everything = [task["id"] for task in list_tasks(client, alice)]

    pages = walk(client, alice, limit=3)

    assert [len(each) for each in pages] == [3, 3, 1]
    assert [task_id for each in pages for task_id in each] == everything


def test_a_last_page_that_is_full_says_there_is_no_next(client: TestClient, alice: Tenant) -> None:
    for _ in range(4):
        create_task(client, alice)

    assert [len(each) for each in walk(client, alice, limit=2)] == [2, 2]


def test_filters_apply_to_every_page(client: TestClient, alice: Tenant) -> None:
    created = [create_task(client, alice) for _ in range(5)]
    for task in created[:3]:
        client.patch("/api/tasks", json={"id": task["id"], "enabled": False}, headers=alice.headers)
    paused = [task["id"] for task in list_tasks(client, alice, enabled="false")]

    assert walk(client, alice, limit=2, enabled="false") == [
        paused[:2],
        paused[2:],
    ]


def test_tasks_created_while_paging_neither_repeat_nor_shift_the_next_pages(
    client: TestClient, clock: FakeClock, alice: Tenant
) -> None:
    for _ in range(4):
        create_task(client, alice)
        clock.advance(seconds=1)
    before = [task["id"] for task in list_tasks(client, alice)]
    first = page(client, alice, limit=2)

    create_task(client, alice)  # newer than all: it belongs before the first page
    rest = page(client, alice, limit=2, cursor=first["next_cursor"])

    assert [task["id"] for task in first["tasks"] + rest["tasks"]] == before
    assert rest["next_cursor"] is None


def test_a_cursor_without_limit_pages_by_20(client: TestClient, alice: Tenant) -> None:
    for _ in range(22):
        create_task(client, alice)
    first = page(client, alice, limit=1)

    second = page(client, alice, cursor=first["next_cursor"])

    assert len(second["tasks"]) == 20
    assert second["next_cursor"] is not None


@pytest.mark.parametrize(
    ("limit", "message"),
    [
        ("0", "Too small: expected number to be >=1"),
        ("101", "Too big: expected number to be <=100"),
        ("two", "Invalid input: expected number, received NaN"),
    ],
)
def test_a_bad_limit_is_a_400(client: TestClient, alice: Tenant, limit: str, message: str) -> None:
    response = client.get("/api/tasks", params={"limit": limit}, headers=alice.headers)

    assert_error(response, 400, message, ["limit"])


TASK_FORGED = {
    **FORGED,
    "a run's id": encoded(b"2026-01-05T12:00:00+00:00|run_a"),
    "a task id with a NUL": encoded(b"2026-01-05T12:00:00+00:00|\x00" + b"0" * 31),
}


@pytest.mark.parametrize("cursor", list(TASK_FORGED.values()), ids=list(TASK_FORGED))
def test_forged_cursors_are_400(client: TestClient, alice: Tenant, cursor: str) -> None:
    create_task(client, alice)

    response = client.get("/api/tasks", params={"cursor": cursor}, headers=alice.headers)

    assert_error(response, 400, MESSAGE, ["cursor"])
