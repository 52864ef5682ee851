"""/dashboard/tasks: every task of the account, filtered by artist and state; fast at 1,000."""

from __future__ import annotations

import time
from uuid import uuid4

from starlette.testclient import TestClient

from backbeat.domain.models import Task
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.dashboard.helpers import Dashboard, create_task, signed_in
from tests.databases import statements_run


def rows(dashboard: Dashboard, **params: str) -> list[list[str]]:
    page = dashboard.get("/dashboard/tasks", **params)
    assert page.status == 200, page.html
    return [
        [" ".join(cell.text.split()) for cell in row.walk() if cell.tag == "td"]
        for row in page.all("tr", data_testid="task-row")
    ]


def test_the_list_shows_each_task_with_its_schedule_state_and_runs(
    client: TestClient, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    weekly = create_task(dashboard, alice, title="Weekly pulse", schedule="0 9 * * 4")
    clock.advance(seconds=1)
    daily = create_task(
        dashboard, alice, title="Daily digest", schedule="@daily", timezone="Europe/Paris"
    )
    dashboard.post(f"/dashboard/tasks/{daily}/pause")
    run = dashboard.post(f"/dashboard/tasks/{weekly}/run").headers["location"].split("?")[0]

    page = dashboard.get("/dashboard/tasks")

    assert page.text("task-count") == "Showing 2 of 2 tasks."
    table = page.testid("tasks-table")
    headers = [" ".join(th.text.split()) for th in table.walk() if th.tag == "th"]
    assert headers == [
        "Title",
        "Artist",
        "Schedule",
        "Timezone",
        "Enabled",
        "Next run",
        "Last run",
    ]
    assert rows(dashboard) == [
        ["Daily digest", "Artist of alice@example.com", "At 00:00 @daily", "Europe/Paris",
         "Paused", "–", "Not run yet"],
        ["Weekly pulse", "Artist of alice@example.com", "At 09:00, only on Thursday 0 9 * * 4",
         "UTC", "Yes", "Thu 2026-01-08 09:00 UTC", "QUEUED"],
    ]  # fmt: skip
    [weekly_row] = page.all("tr", data_task_id=weekly)
    [next_fire] = [node for node in weekly_row.walk() if node.tag == "time"]
    assert next_fire.attrs["datetime"] == "2026-01-08T09:00:00.000Z"
    assert next_fire.attrs["title"] == "2026-01-08 09:00:00 UTC"
    assert "data-local" in next_fire.attrs
    assert next_fire.attrs["data-zone"] == "UTC"
    links = [node.attrs["href"] for node in weekly_row.walk() if node.tag == "a"]
    assert links == [f"/dashboard/tasks/{weekly}", run]


def test_filters_by_artist_and_state(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    other = backbeat.admin.create_artist("Second Artist", account_id=alice.account_id)
    dashboard = signed_in(client, alice)
    first = create_task(dashboard, alice, title="First")
    clock.advance(seconds=1)
    second = create_task(dashboard, alice, title="Second", artist_account_id=str(other.id))
    clock.advance(seconds=1)
    create_task(dashboard, alice, title="Third")
    dashboard.post(f"/dashboard/tasks/{first}/pause")

    assert [row[0] for row in rows(dashboard, artist_account_id=str(other.id))] == ["Second"]
    assert [row[0] for row in rows(dashboard, enabled="false")] == ["First"]
    assert [row[0] for row in rows(dashboard, enabled="true")] == ["Third", "Second"]
    both = rows(dashboard, artist_account_id=str(alice.artist_id), enabled="true")
    assert [row[0] for row in both] == ["Third"]
    page = dashboard.get("/dashboard/tasks", artist_account_id=str(other.id), enabled="true")
    assert page.text("task-count") == "Showing 1 of 3 tasks."
    options = {
        node.attrs["value"]: node.text
        for node in page.one("select", id="filter-artist").walk()
        if node.tag == "option"
    }
    assert options == {
        "": "All artists",
        str(alice.artist_id): "Artist of alice@example.com",
        str(other.id): "Second Artist",
    }
    selected = [n for n in page.one("select", id="filter-artist").walk() if "selected" in n.attrs]
    assert [n.attrs["value"] for n in selected] == [str(other.id)]
    assert page.label_for("filter-artist") == "Artist"
    assert page.label_for("filter-enabled") == "State"
    assert second in page.html


def test_a_bad_filter_is_a_clear_message(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    page = dashboard.get("/dashboard/tasks", artist_account_id="nope")

    assert page.status == 400
    assert page.text("problem-message") == "artist_account_id must be a valid UUID"
    page = dashboard.get("/dashboard/tasks", enabled="maybe")
    assert page.text("problem-message") == "enabled must be true or false"


def test_no_tasks_yet(client: TestClient, alice: Tenant) -> None:
    page = signed_in(client, alice).get("/dashboard/tasks")

    assert page.text("task-count") == "Showing 0 of 0 tasks."
    assert "No tasks yet." in page.testid("tasks-table").text


def add_tasks(backbeat: Backbeat, tenant: Tenant, count: int) -> None:
    now = backbeat.clock.now()
    with backbeat.uow(write=True) as uow:
        for number in range(count):
            uow.tasks.add(
                Task(
                    id=uuid4(),
                    account_id=tenant.account_id,
                    artist_account_id=tenant.artist_id,
                    title=f"Task {number}",
                    prompt="Say hello.",
                    schedule=f"{number % 60} {number % 24} * * {number % 7}",
                    timezone=("UTC", "Europe/London", "America/New_York")[number % 3],
                    enabled=number % 10 != 0,
                    model=None,
                    created_at=now,
                    updated_at=now,
                    next_fire_at=None,
                )
            )
        uow.commit()


def test_a_thousand_tasks_take_as_many_queries_as_one_and_render_fast(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    add_tasks(backbeat, alice, 1)
    with statements_run(backbeat.engine) as one:
        dashboard.get("/dashboard/tasks")
    add_tasks(backbeat, alice, 999)
    dashboard.get("/dashboard/tasks")  # warm the schedule caches, as a running server has

    # CPU time of this process (the app runs in a thread of it), not the wall clock: other
    # test processes share the machine, and what is checked is the page's own cost.
    started = time.process_time()
    with statements_run(backbeat.engine) as thousand:
        page = dashboard.get("/dashboard/tasks")
    elapsed = time.process_time() - started

    assert page.text("task-count") == "Showing 1000 of 1000 tasks."
    assert len(page.all("tr", data_testid="task-row")) == 1000
    assert len(thousand) == len(one), thousand
    assert elapsed < 2.0, f"the page took {elapsed:.2f} s of CPU"
