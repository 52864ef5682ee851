"""Plans and the 402 `plan_limit` answer (Recoup's autumn-2026 gate), on both databases.

Plans are off by default: no account has one, nothing is ever a 402. An operator gives an
account a plan (`backbeat accounts set-plan`); then POST and PATCH are checked after
validation and auth and before anything is written, and a task over the cap answers the
same 402 to `GET /api/tasks?id=`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.domain.errors import NotFound
from backbeat.domain.plans import Plan
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks, task_body
from tests.conftest import Tenant, make_backbeat

BILLING = "https://billing.example.com/upgrade"
WEEKLY, DAILY, HOURLY = "0 9 * * 4", "0 9 * * *", "0 * * * *"
FREE_COUNT = "Free includes 1 task. Starter includes 3, Pro is unlimited."
FREE_CADENCE = "Free runs tasks weekly at most. Starter runs daily, Pro runs hourly."


@pytest.fixture
def backbeat(db_url: str, clock: FakeClock) -> Iterator[Backbeat]:
    app = make_backbeat(db_url, clock, billing_url=BILLING)
    yield app
    app.close()


def refusal(
    limit: str,
    message: str,
    plan: str,
    task_limit: int | None,
    cadence: int,
    count: int,
    billing: str | None = BILLING,
) -> dict[str, Any]:
    return {
        "status": "error",
        "error": "plan_limit",
        "limit": limit,
        "message": message,
        "plan": plan,
        "task_limit": task_limit,
        "min_cadence_minutes": cadence,
        "current_task_count": count,
        "billingUrl": billing,
    }


def free_count(count: int) -> dict[str, Any]:
    return refusal("task_count", FREE_COUNT, "free", 1, 10_080, count)


def free_cadence(count: int) -> dict[str, Any]:
    return refusal("min_cadence", FREE_CADENCE, "free", 1, 10_080, count)


def assert_402(response: Any, body: dict[str, Any]) -> None:
    assert response.status_code == 402, response.text
    assert response.json() == body


def _post(client: TestClient, tenant: Tenant, **overrides: Any) -> Any:
    return client.post("/api/tasks", json=task_body(tenant, **overrides), headers=tenant.headers)


def _patch(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.patch("/api/tasks", json=body, headers=tenant.headers)


def _get(client: TestClient, tenant: Tenant, task_id: str) -> Any:
    return client.get("/api/tasks", params={"id": task_id}, headers=tenant.headers)


def set_plan(backbeat: Backbeat, tenant: Tenant, plan: Plan | None, **custom: int) -> None:
    backbeat.admin.set_plan(tenant.account_id, plan, **custom)


def test_without_a_plan_nothing_is_ever_limited(client: TestClient, alice: Tenant) -> None:
    for _ in range(5):
        create_task(client, alice, schedule="* * * * *")

    assert len(list_tasks(client, alice)) == 5


def test_free_allows_one_weekly_task(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    set_plan(backbeat, alice, Plan.FREE)
    first = create_task(client, alice, schedule=WEEKLY)

    assert_402(_post(client, alice, schedule=WEEKLY), free_count(1))
    assert list_tasks(client, alice) == [first]  # nothing written


def test_free_refuses_a_daily_task(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    set_plan(backbeat, alice, Plan.FREE)

    assert_402(_post(client, alice, schedule=DAILY), free_cadence(0))
    assert list_tasks(client, alice) == []


def test_starter_and_pro(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    set_plan(backbeat, alice, Plan.STARTER)
    for _ in range(3):
        create_task(client, alice, schedule=DAILY)
    assert_402(
        _post(client, alice, schedule=WEEKLY),
        refusal(
            "task_count", "Starter includes 3 tasks. Pro is unlimited.", "starter", 3, 1_440, 3
        ),
    )

    set_plan(backbeat, alice, Plan.PRO)
    create_task(client, alice, schedule=HOURLY)
    assert_402(
        _post(client, alice, schedule="*/30 * * * *"),
        refusal("min_cadence", "Pro runs tasks hourly at most.", "pro", None, 60, 4),
    )


def test_custom_limits_and_no_billing_url(clock: FakeClock, db_url: str, alice: Tenant) -> None:
    plain = make_backbeat(db_url, clock)  # BACKBEAT_BILLING_URL unset
    try:
        with TestClient(create_app(plain)) as other:
            set_plan(plain, alice, Plan.STARTER, task_limit=1, min_cadence_minutes=120)
            create_task(other, alice, schedule="0 */2 * * *")
            assert_402(
                _post(other, alice, schedule=WEEKLY),
                refusal(
                    "task_count",
                    "This account's Starter plan includes 1 task.",
                    "starter",
                    1,
                    120,
                    1,
                    billing=None,
                ),
            )
    finally:
        plain.close()


def test_none_takes_the_plan_away(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    set_plan(backbeat, alice, Plan.FREE)
    assert _post(client, alice, schedule=DAILY).status_code == 402

    set_plan(backbeat, alice, None)

    create_task(client, alice, schedule="* * * * *")


def test_validation_and_access_come_before_the_plan(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    set_plan(backbeat, alice, Plan.FREE)
    create_task(client, alice, schedule=WEEKLY)

    assert_error(_post(client, alice, title=""), 400, "title parameter is required", ["title"])
    response = _post(client, alice, schedule="* * *")
    assert response.status_code == 400
    assert response.json()["missing_fields"] == ["schedule"]
    assert_error(
        _post(client, alice, artist_account_id=str(bob.artist_id)),
        403,
        "Access denied to specified artist_account_id",
    )
    response = _post(client, alice, account_id=str(bob.account_id))
    assert_error(response, 403, "Access denied to specified account_id")


def test_the_owners_plan_counts_not_the_callers(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)
    set_plan(backbeat, bob, Plan.FREE)
    create_task(client, bob, schedule=WEEKLY)
    for _ in range(2):
        create_task(client, alice, schedule=DAILY)  # Alice has no plan

    for_bob = _post(
        client,
        alice,
        account_id=str(bob.account_id),
        artist_account_id=str(bob.artist_id),
        schedule=WEEKLY,
    )
    assert_402(for_bob, free_count(1))


def test_a_title_or_prompt_edit_is_never_checked(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    tasks = [create_task(client, alice, schedule=DAILY) for _ in range(2)]
    set_plan(backbeat, alice, Plan.FREE)  # now over the cap and too frequent

    for task in tasks:
        response = _patch(client, alice, {"id": task["id"], "title": "T", "prompt": "P"})
        assert response.status_code == 200, response.text
    unchanged = _patch(client, alice, {"id": tasks[0]["id"], "schedule": DAILY})
    assert unchanged.status_code == 200, unchanged.text  # the same schedule is no change


def test_re_enabling_takes_a_slot(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    older = create_task(client, alice, schedule=WEEKLY)
    newer = create_task(client, alice, schedule=WEEKLY)
    _patch(client, alice, {"id": newer["id"], "enabled": False})
    set_plan(backbeat, alice, Plan.FREE)

    assert_402(_patch(client, alice, {"id": newer["id"], "enabled": True}), free_count(1))
    assert_402(_patch(client, alice, {"id": newer["id"], "enabled": None}), free_count(1))
    assert list_tasks(client, alice, id=newer["id"])[0]["enabled"] is False  # nothing written
    # Enabling an enabled task takes no new slot; a disabled task's edits are free.
    assert _patch(client, alice, {"id": older["id"], "enabled": True}).status_code == 200
    assert _patch(client, alice, {"id": newer["id"], "title": "x"}).status_code == 200

    assert _patch(client, alice, {"id": older["id"], "enabled": False}).status_code == 200
    assert _patch(client, alice, {"id": newer["id"], "enabled": True}).status_code == 200


def test_a_schedule_change_checks_cadence_only(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    create_task(client, alice, schedule=WEEKLY)
    newer = create_task(client, alice, schedule=WEEKLY)
    set_plan(backbeat, alice, Plan.FREE)  # two enabled tasks: over the cap of one

    weekly = _patch(client, alice, {"id": newer["id"], "schedule": "0 10 * * 2"})
    assert weekly.status_code == 200, weekly.text  # the count is not checked
    assert_402(_patch(client, alice, {"id": newer["id"], "schedule": DAILY}), free_cadence(1))
    assert _get_task(client, alice, newer["id"])["schedule"] == "0 10 * * 2"  # unchanged


def _get_task(client: TestClient, tenant: Tenant, task_id: str) -> dict[str, Any]:
    [task] = [t for t in list_tasks(client, tenant) if t["id"] == task_id]
    return task


def test_over_the_cap_the_oldest_tasks_keep_their_slots(
    client: TestClient, clock: FakeClock, backbeat: Backbeat, alice: Tenant
) -> None:
    oldest = create_task(client, alice, schedule=WEEKLY)
    clock.advance(minutes=1)
    middle = create_task(client, alice, schedule=WEEKLY)
    clock.advance(minutes=1)
    paused = create_task(client, alice, schedule=WEEKLY)
    _patch(client, alice, {"id": paused["id"], "enabled": False})
    set_plan(backbeat, alice, Plan.FREE)

    assert _get(client, alice, oldest["id"]).status_code == 200
    assert_402(_get(client, alice, middle["id"]), free_count(1))
    assert _get(client, alice, paused["id"]).status_code == 200  # paused: never blocked
    assert len(list_tasks(client, alice)) == 3  # lists are never checked

    _patch(client, alice, {"id": oldest["id"], "enabled": False})
    assert _get(client, alice, middle["id"]).status_code == 200  # the slot came free


def test_a_task_too_frequent_for_a_new_plan_is_blocked_when_read_by_id(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    task = create_task(client, alice, schedule=DAILY)
    set_plan(backbeat, alice, Plan.FREE)

    assert_402(_get(client, alice, task["id"]), free_cadence(0))


def test_an_organization_mate_reads_the_same_402(
    client: TestClient, clock: FakeClock, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    org = backbeat.admin.create_organization("Label")
    for tenant in (alice, bob):
        backbeat.admin.add_member(org.id, tenant.account_id)
    create_task(client, bob, schedule=WEEKLY)
    clock.advance(minutes=1)  # the older task keeps the one slot
    newer = create_task(client, bob, schedule=WEEKLY)
    set_plan(backbeat, bob, Plan.FREE)

    response = client.get(
        "/api/tasks",
        params={"id": newer["id"], "account_id": str(bob.account_id)},
        headers=alice.headers,
    )
    assert_402(response, free_count(1))


def test_delete_is_never_checked(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    tasks = [create_task(client, alice, schedule=DAILY) for _ in range(2)]
    set_plan(backbeat, alice, Plan.FREE)

    for task in tasks:
        response = client.request(
            "DELETE", "/api/tasks", json={"id": task["id"]}, headers=alice.headers
        )
        assert response.json() == {"status": "success"}


def test_set_plan_refuses_an_unknown_account(backbeat: Backbeat) -> None:
    with pytest.raises(NotFound):
        backbeat.admin.set_plan(UUID(int=7), Plan.FREE)
