"""Length caps on the task's text fields: a clear 400, checked before a schedule is parsed,
and nothing refused ever lands in the cron caches."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.domain import cron
from backbeat.edge.requests import MAX_LENGTHS
from tests.api.helpers import assert_error, create_task, task_body
from tests.conftest import Tenant

# What the issue measured: a schedule of 580 kB that cronsim accepts (a day-of-week list).
HUGE_SCHEDULE = "0 9 * * " + "1," * 290_000 + "1"
LIMITS = {"title": 200, "prompt": 20_000, "schedule": 256, "timezone": 64, "model": 200}


def _cron_cache_sizes() -> tuple[int, int, int]:
    return (
        cron._parse.cache_info().currsize,
        cron._next_fire.cache_info().currsize,
        len(cron._upcoming_cache._entries),
    )


def clear_cron_caches() -> None:
    cron._parse.cache_clear()
    cron._next_fire.cache_clear()
    cron._upcoming_cache._entries.clear()


def _too_long(field: str) -> str:
    if field == "schedule":  # a valid cron, padded with spaces to one character over
        return "0 9 * * 4" + " " * (LIMITS[field] + 1 - len("0 9 * * 4"))
    return "a" * (LIMITS[field] + 1)


def test_the_caps_are_the_documented_ones() -> None:
    assert MAX_LENGTHS == LIMITS


@pytest.mark.parametrize("field", list(LIMITS))
def test_create_refuses_each_field_one_character_over(
    client: TestClient, alice: Tenant, field: str
) -> None:
    body = task_body(alice, **{field: _too_long(field)})

    response = client.post("/api/tasks", json=body, headers=alice.headers)

    message = f"{field} must be at most {LIMITS[field]:,} characters"
    assert_error(response, 400, message, [field])


@pytest.mark.parametrize("field", list(LIMITS))
def test_update_refuses_each_field_one_character_over(
    client: TestClient, alice: Tenant, field: str
) -> None:
    task = create_task(client, alice)

    response = client.patch(
        "/api/tasks", json={"id": task["id"], field: _too_long(field)}, headers=alice.headers
    )

    message = f"{field} must be at most {LIMITS[field]:,} characters"
    assert_error(response, 400, message, [field])


def test_values_at_the_caps_are_accepted(client: TestClient, alice: Tenant) -> None:
    schedule = "0 9 * * 4".ljust(LIMITS["schedule"])
    zone = "America/Argentina/ComodRivadavia"  # the longest IANA name: well under the cap
    task = create_task(
        client,
        alice,
        title="t" * LIMITS["title"],
        prompt="p" * LIMITS["prompt"],
        schedule=schedule,
        timezone=zone,
        model="m" * LIMITS["model"],
    )

    assert (len(task["title"]), len(task["prompt"]), len(task["model"])) == (200, 20_000, 200)
    assert task["schedule"] == schedule
    updated = client.patch(
        "/api/tasks",
        json={"id": task["id"], "title": "u" * LIMITS["title"], "schedule": schedule},
        headers=alice.headers,
    )
    assert updated.status_code == 200, updated.text


def _timed(send: Any) -> tuple[Any, float]:
    # CPU time of this process, not the wall clock: other test processes share the machine.
    started = time.process_time()
    response = send()
    return response, time.process_time() - started


def test_a_580_kb_schedule_is_refused_quickly_and_not_cached(
    client: TestClient, alice: Tenant
) -> None:
    task = create_task(client, alice)
    clear_cron_caches()
    message = "schedule must be at most 256 characters"

    created, create_seconds = _timed(
        lambda: client.post(
            "/api/tasks", json=task_body(alice, schedule=HUGE_SCHEDULE), headers=alice.headers
        )
    )
    updated, update_seconds = _timed(
        lambda: client.patch(
            "/api/tasks", json={"id": task["id"], "schedule": HUGE_SCHEDULE}, headers=alice.headers
        )
    )

    assert_error(created, 400, message, ["schedule"])
    assert_error(updated, 400, message, ["schedule"])
    assert create_seconds < 1.0, create_seconds
    assert update_seconds < 1.0, update_seconds
    assert _cron_cache_sizes() == (0, 0, 0)


def test_the_length_is_checked_before_the_schedule_is_parsed(
    client: TestClient, alice: Tenant
) -> None:
    """An over-long schedule that is not even a cron says it is too long, not what is wrong."""
    clear_cron_caches()
    response = client.post(
        "/api/tasks", json=task_body(alice, schedule="61 " * 100), headers=alice.headers
    )

    assert_error(response, 400, "schedule must be at most 256 characters", ["schedule"])
    assert _cron_cache_sizes() == (0, 0, 0)


def test_the_served_openapi_documents_the_caps(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]

    for name in ("CreateTaskRequest", "UpdateTaskRequest"):
        properties = schemas[name]["properties"]
        for field, limit in LIMITS.items():
            description = properties[field].get("description", "")
            assert f"at most {limit:,} characters" in description, (name, field)
