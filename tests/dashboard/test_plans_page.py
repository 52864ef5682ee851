"""The dashboard and plans: a task over its owner's plan says on its page why it does not run;
edits that keep the schedule are never refused; what the plan refuses shows its message."""

from __future__ import annotations

from starlette.testclient import TestClient

from backbeat.domain.plans import Plan
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import create_task as api_create_task
from tests.conftest import Tenant
from tests.dashboard.helpers import Page, signed_in
from tests.dashboard.test_task_page import edit

FREE_COUNT = "Free includes 1 task. Starter includes 3, Pro is unlimited."
FREE_CADENCE = "Free runs tasks weekly at most. Starter runs daily, Pro runs hourly."


def test_a_task_over_the_cap_says_why_it_does_not_run(
    client: TestClient, backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    oldest = api_create_task(client, alice)
    clock.advance(minutes=1)
    newer = api_create_task(client, alice)
    backbeat.admin.set_plan(alice.account_id, Plan.FREE)

    blocked = dashboard.get(f"/dashboard/tasks/{newer['id']}")
    kept = dashboard.get(f"/dashboard/tasks/{oldest['id']}")

    assert blocked.status == 200
    assert blocked.text("plan-block") == (
        f"This task does not run: its account's plan allows fewer tasks. {FREE_COUNT}"
    )
    assert kept.status == 200
    assert kept.all(data_testid="plan-block") == []


def test_a_task_too_frequent_for_the_plan_says_so_and_keeps_its_edits(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task = api_create_task(client, alice, schedule="0 9 * * *")
    backbeat.admin.set_plan(alice.account_id, Plan.FREE)

    page = dashboard.get(f"/dashboard/tasks/{task['id']}")
    assert page.text("plan-block") == (
        f"This task does not run: its schedule is more frequent than its account's plan "
        f"allows. {FREE_CADENCE}"
    )

    assert edit(dashboard, task["id"], title="Renamed").status_code == 303  # same schedule

    refused = edit(dashboard, task["id"], schedule="0 10 * * *")
    assert refused.status_code == 402
    assert FREE_CADENCE in Page(refused).text("form-error")


def test_resuming_past_the_cap_shows_the_plans_message(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    api_create_task(client, alice)
    paused = api_create_task(client, alice)
    client.patch("/api/tasks", json={"id": paused["id"], "enabled": False}, headers=alice.headers)
    backbeat.admin.set_plan(alice.account_id, Plan.FREE)

    response = dashboard.post(f"/dashboard/tasks/{paused['id']}/resume")

    assert response.status_code == 402
    assert FREE_COUNT in response.text
