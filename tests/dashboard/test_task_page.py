"""/dashboard/tasks/{id}: read, edit (the API's messages), pause, resume, run now, delete,
and its run history; /dashboard/tasks/new; the schedule preview."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.testclient import TestClient

from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.api.helpers import create_task as api_create_task
from tests.api.helpers import list_tasks
from tests.conftest import Tenant
from tests.dashboard.helpers import (
    Dashboard,
    Page,
    create_task,
    finish_queued_run,
    signed_in,
)


def api_task(client: TestClient, tenant: Tenant, task_id: str) -> dict[str, Any]:
    [task] = list_tasks(client, tenant, id=task_id)
    return task


def edit(dashboard: Dashboard, task_id: str, **changes: str) -> Any:
    page = dashboard.get(f"/dashboard/tasks/{task_id}")
    form = page.testid("task-form")
    values = {
        node.attrs["name"] or "": node.attrs.get("value") or ""
        for node in form.walk()
        if node.tag == "input" and node.attrs.get("name") != "csrf_token"
    }
    values["prompt"] = page.one("textarea", name="prompt").text
    for select in (node for node in form.walk() if node.tag == "select"):  # as a browser sends
        chosen = [o for o in select.walk() if o.tag == "option" and "selected" in o.attrs]
        if chosen and "disabled" not in chosen[0].attrs:
            values[select.attrs["name"] or ""] = chosen[0].attrs.get("value") or ""
    return dashboard.post(f"/dashboard/tasks/{task_id}", {**values, **changes})


def test_the_task_page_shows_the_task_and_an_edit_form(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, schedule="30 8 * * 1-5", timezone="Europe/London")

    page = dashboard.get(f"/dashboard/tasks/{task_id}")

    assert page.status == 200
    assert page.text("task-title") == "Weekly Genre Pulse Check"
    assert page.text("task-schedule-description") == "At 08:30, Monday through Friday"
    assert page.text("task-state") == "Enabled"
    upcoming = [n.attrs["datetime"] for n in page.testid("task-upcoming").walk() if n.tag == "time"]
    assert upcoming == [
        "2026-01-06T08:30:00.000Z",
        "2026-01-07T08:30:00.000Z",
        "2026-01-08T08:30:00.000Z",
        "2026-01-09T08:30:00.000Z",
        "2026-01-12T08:30:00.000Z",
    ]
    preview = page.testid("preview-upcoming")
    assert [n.attrs["datetime"] for n in preview.walk() if n.tag == "time"] == upcoming
    for control, label in [
        ("task-title", "Title"),
        ("task-prompt", "Prompt"),
        ("task-schedule", "Schedule (cron)"),
        ("task-timezone", "Timezone"),
        ("task-model", "Model"),
        ("task-artist_account_id", "Artist"),
    ]:
        assert page.label_for(control) == label
    assert page.one("input", id="task-schedule").attrs["value"] == "30 8 * * 1-5"
    assert page.one("textarea", id="task-prompt").text == (
        "Analyse this artist's genre trends and email the team a summary."
    )
    assert [b.text for b in page.all("button") if b.attrs.get("data-testid")] == [
        "Sign out",
        "Run now",
        "Pause",
        "Save changes",
    ]
    assert page.testid("delete-task").attrs["href"] == f"/dashboard/tasks/{task_id}/delete"


def test_saving_the_form_updates_the_task_through_the_service(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    other = backbeat.admin.create_artist("Second Artist", account_id=alice.account_id)
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    woken = backbeat.schedule_changed
    woken.clear()

    response = edit(
        dashboard,
        task_id,
        title="Renamed",
        prompt="Line one\r\nLine two",
        schedule="15 10 * * 1",
        timezone="America/New_York",
        model="openai/gpt-4o-mini",
        artist_account_id=str(other.id),
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/tasks/{task_id}?done=saved"
    task = api_task(client, alice, task_id)
    assert task["title"] == "Renamed"
    assert task["prompt"] == "Line one\nLine two"  # the browser's CRLF, as typed
    assert task["schedule"] == "15 10 * * 1"
    assert task["timezone"] == "America/New_York"
    assert task["model"] == "openai/gpt-4o-mini"
    assert task["artist_account_id"] == str(other.id)
    assert task["upcoming"][0] == "2026-01-05T15:15:00.000Z"  # today, 10:15 in New York
    assert woken.is_set()  # the same service code: the scheduler is told
    page = dashboard.get(response.headers["location"])
    assert page.text("notice") == "Task saved."
    assert page.text("task-title") == "Renamed"


def test_a_blank_model_keeps_the_model(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, model="openai/gpt-4o-mini")

    assert edit(dashboard, task_id, model="", title="New title").status_code == 303

    assert api_task(client, alice, task_id)["model"] == "openai/gpt-4o-mini"


REFUSED_EDITS: list[tuple[dict[str, str], str]] = [
    ({"title": ""}, "title"),
    ({"prompt": ""}, "prompt"),
    ({"schedule": ""}, "schedule"),
    ({"schedule": "61 * * * *"}, "schedule"),
    ({"schedule": "0 9 * *"}, "schedule"),
    ({"schedule": "0 0 30 2 *"}, "schedule"),
    ({"schedule": "@fortnightly"}, "schedule"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"artist_account_id": "not-a-uuid"}, "artist_account_id"),
    ({"title": "nul \x00 byte"}, "title"),
]


def test_a_refused_edit_shows_the_apis_message(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    for changes, field in REFUSED_EDITS:
        api = client.patch("/api/tasks", json={"id": task_id, **changes}, headers=alice.headers)
        assert api.status_code == 400, changes

        response = edit(dashboard, task_id, **changes)

        assert response.status_code == 400, changes
        page = Page(response)
        assert page.text("form-error") == api.json()["error"], changes
        control = page.one(id=f"task-{field}")
        assert control.attrs["aria-invalid"] == "true"
        assert "form-error" in (control.attrs["aria-describedby"] or "")
        if control.tag == "input":
            assert control.attrs["value"] == changes[field]  # as typed, to fix
    assert api_task(client, alice, task_id)["title"] == "Weekly Genre Pulse Check"


def test_an_artist_of_another_account_is_refused_as_by_the_api(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    response = edit(dashboard, task_id, artist_account_id=str(bob.artist_id))

    assert response.status_code == 403
    assert Page(response).text("form-error") == "Access denied to specified artist_account_id"


def test_pause_and_resume(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    paused = dashboard.submit(f"/dashboard/tasks/{task_id}/pause")

    assert paused.text("notice").startswith("Task paused")
    assert paused.text("task-state") == "Paused"
    assert api_task(client, alice, task_id)["enabled"] is False
    assert api_task(client, alice, task_id)["upcoming"] == []
    assert paused.testid("resume-task").text == "Resume"
    resumed = dashboard.submit(f"/dashboard/tasks/{task_id}/resume")
    assert resumed.text("notice").startswith("Task resumed")
    assert resumed.text("task-state") == "Enabled"
    assert api_task(client, alice, task_id)["enabled"] is True


def test_run_now_queues_a_manual_run_and_shows_it(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    woken: list[int] = []
    backbeat.runs_queued.subscribe(lambda: woken.append(1))
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    response = dashboard.post(f"/dashboard/tasks/{task_id}/run")

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/dashboard/runs/run_")
    assert location.endswith("?done=queued")
    [run] = client.get("/api/tasks/runs", headers=alice.headers).json()["runs"]
    assert location == f"/dashboard/runs/{run['id']}?done=queued"
    assert run["trigger"] == "manual"
    assert woken == [1]
    page = dashboard.get(location)
    assert page.text("notice").startswith("Run queued")
    assert page.text("run-status") == "QUEUED"


def test_delete_asks_first_then_deletes(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    dashboard.post(f"/dashboard/tasks/{task_id}/run")

    confirm = dashboard.get(f"/dashboard/tasks/{task_id}/delete")

    assert confirm.title == "Delete “Weekly Genre Pulse Check”?"
    assert confirm.testid("keep-task").attrs["href"] == f"/dashboard/tasks/{task_id}"
    assert list_tasks(client, alice, id=task_id)  # asking changed nothing
    done = dashboard.submit(f"/dashboard/tasks/{task_id}/delete")
    assert done.text("notice") == "Task deleted. Its runs stay readable."
    assert list_tasks(client, alice, id=task_id) == []
    assert dashboard.get(f"/dashboard/tasks/{task_id}").status == 404
    [run] = client.get("/api/tasks/runs", headers=alice.headers).json()["runs"]
    run_page = dashboard.get(f"/dashboard/runs/{run['id']}")
    assert run_page.status == 200
    assert "(deleted)" in run_page.testid("run-facts").text


def test_run_history_is_newest_first_paged_with_a_chart(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    for number in range(22):
        dashboard.post(f"/dashboard/tasks/{task_id}/run")
        finish_queued_run(backbeat, clock, retry_first=False, cost_in_cents=number / 10)
    ids = [r["id"] for r in client.get(
        "/api/tasks/runs", params={"task_id": task_id, "limit": 30}, headers=alice.headers
    ).json()["runs"]]  # fmt: skip

    first = dashboard.get(f"/dashboard/tasks/{task_id}")

    rows = first.all("tr", data_testid="run-row")
    assert [row.attrs["data-run-id"] for row in rows] == ids[:20]
    cells = [" ".join(td.text.split()) for td in rows[0].walk() if td.tag == "td"]
    assert cells[1:] == ["COMPLETED", "Manual", "3.0 s", "$0.0210"]
    older = first.testid("older-runs").attrs["href"] or ""
    assert older.startswith(f"/dashboard/tasks/{task_id}?cursor=")
    second = dashboard.get(older.split("#")[0])
    assert [row.attrs["data-run-id"] for row in second.all("tr", data_testid="run-row")] == ids[20:]
    assert not second.all(data_testid="older-runs")
    assert second.testid("newest-runs").attrs["href"] == f"/dashboard/tasks/{task_id}#runs"

    for page in (first, second):  # the chart always shows the latest runs
        chart = page.testid("chart-cost")
        svg = next(node for node in chart.walk() if node.tag == "svg")
        assert svg.attrs["role"] == "img"
        assert svg.attrs["aria-label"] == (
            "Cost of the last 20 runs, oldest first: lowest $0.0020, highest $0.0210, "
            "latest $0.0210"
        )
        assert len([node for node in svg.walk() if node.tag == "circle"]) == 20
        assert [node for node in svg.walk() if node.tag == "polyline"]
        assert "Duration of the last 20 runs" in page.testid("chart-duration").text


def test_a_bad_cursor_is_a_message_not_a_failure(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    page = dashboard.get(f"/dashboard/tasks/{task_id}", cursor="garbage")

    assert page.status == 200
    assert "cursor is not a cursor this server gave out" in page.html


def test_new_task_form_creates_a_task(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    form = dashboard.get("/dashboard/tasks/new")
    assert form.title == "New task"
    assert form.one("input", id="task-timezone").attrs["value"] == "UTC"
    assert form.testid("save-task").text == "Create task"

    response = dashboard.post(
        "/dashboard/tasks/new",
        {
            "title": "Fresh",
            "prompt": "Do it.",
            "schedule": "@weekly",
            "timezone": "",
            "model": "",
            "artist_account_id": str(alice.artist_id),
        },
    )

    assert response.status_code == 303
    task_id = response.headers["location"].split("/")[-1].split("?")[0]
    task = api_task(client, alice, task_id)
    assert (task["title"], task["schedule"], task["timezone"], task["model"]) == (
        "Fresh",
        "@weekly",
        "UTC",
        None,
    )
    assert dashboard.get(response.headers["location"]).text("notice") == "Task created."


REFUSED_NEW_TASKS: list[dict[str, str]] = [
    {"title": ""},
    {"prompt": ""},
    {"schedule": ""},
    {"schedule": "* * *"},
    {"timezone": "Nowhere"},
    {"artist_account_id": ""},
    {"artist_account_id": "zzz"},
]


def test_new_task_form_shows_the_apis_messages(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    dashboard.get("/dashboard/tasks/new")

    for changes in REFUSED_NEW_TASKS:
        body = {
            "title": "Fresh",
            "prompt": "Do it.",
            "schedule": "@weekly",
            "artist_account_id": str(alice.artist_id),
            **changes,
        }
        api = client.post("/api/tasks", json=body, headers=alice.headers)

        response = dashboard.post("/dashboard/tasks/new", body)

        assert api.status_code == 400, changes
        assert response.status_code == 400, changes
        page = Page(response)
        assert page.text("form-error") == api.json()["error"], changes
        assert page.one("input", id="task-title").attrs["value"] == body["title"]
    assert list_tasks(client, alice) == []
    # A blank model is "the server's default" in the form (the API refuses "").
    blank_model = {"title": "t", "prompt": "p", "schedule": "@daily", "model": " "}
    blank_model["artist_account_id"] = str(alice.artist_id)
    assert dashboard.post("/dashboard/tasks/new", blank_model).status_code == 303


def test_new_task_with_another_accounts_artist(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    dashboard.get("/dashboard/tasks/new")

    response = dashboard.post(
        "/dashboard/tasks/new",
        {
            "title": "x",
            "prompt": "y",
            "schedule": "@daily",
            "artist_account_id": str(bob.artist_id),
        },
    )

    assert response.status_code == 403
    assert Page(response).text("form-error") == "Access denied to specified artist_account_id"


def test_the_schedule_preview_describes_and_lists_fire_times(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)

    response = dashboard.raw_get(
        "/dashboard/schedule-preview", schedule="0 9 * * 4", timezone="America/New_York"
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "ok": True,
        "description": "At 09:00, only on Thursday",
        "timezone": "America/New_York",
        "upcoming": [
            "2026-01-08T14:00:00.000Z",
            "2026-01-15T14:00:00.000Z",
            "2026-01-22T14:00:00.000Z",
            "2026-01-29T14:00:00.000Z",
            "2026-02-05T14:00:00.000Z",
        ],
        "upcoming_utc": [
            "2026-01-08 14:00:00 UTC",
            "2026-01-15 14:00:00 UTC",
            "2026-01-22 14:00:00 UTC",
            "2026-01-29 14:00:00 UTC",
            "2026-02-05 14:00:00 UTC",
        ],
        "upcoming_text": [
            "Thu 2026-01-08 09:00 America/New_York",
            "Thu 2026-01-15 09:00 America/New_York",
            "Thu 2026-01-22 09:00 America/New_York",
            "Thu 2026-01-29 09:00 America/New_York",
            "Thu 2026-02-05 09:00 America/New_York",
        ],
    }
    macro = dashboard.raw_get("/dashboard/schedule-preview", schedule="@hourly").json()
    assert macro["description"] == "Every hour"
    assert macro["timezone"] == "UTC"
    assert macro["upcoming"][0] == "2026-01-05T13:00:00.000Z"


def test_the_preview_takes_a_blank_timezone_as_utc(client: TestClient, alice: Tenant) -> None:
    # As the form and the API do; it once reached Schedule.parse as "  " and answered 500.
    dashboard = signed_in(client, alice)

    response = dashboard.raw_get("/dashboard/schedule-preview", schedule="@hourly", timezone="  ")

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["timezone"] == "UTC"


def test_the_preview_refuses_with_the_apis_messages(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    for schedule, timezone, field in [
        ("", "UTC", "schedule"),
        ("61 * * * *", "UTC", "schedule"),
        ("0 9 * * 4 extra", "UTC", "schedule"),
        ("@sometimes", "UTC", "schedule"),
        ("0 0 31 4 *", "UTC", "schedule"),
        ("0 9 * * 4", "Atlantis/Capital", "timezone"),
    ]:
        api = client.patch(
            "/api/tasks",
            json={"id": task_id, "schedule": schedule, "timezone": timezone},
            headers=alice.headers,
        )

        response = dashboard.raw_get(
            "/dashboard/schedule-preview", schedule=schedule, timezone=timezone
        )

        assert response.json() == {"ok": False, "error": api.json()["error"], "field": field}


def test_run_history_names_each_trigger(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    task_id = api_create_task(client, alice, schedule="0 9 * * *")["id"]
    clock.set(datetime(2026, 1, 6, 9, 0, 5, tzinfo=UTC))
    backbeat.scheduler.tick(clock.now())  # on time
    clock.set(datetime(2026, 1, 7, 9, 30, tzinfo=UTC))
    backbeat.scheduler.tick(clock.now())  # half an hour late, within the grace
    clock.advance(minutes=1)
    dashboard = signed_in(client, alice)
    dashboard.post(f"/dashboard/tasks/{task_id}/run")

    page = dashboard.get(f"/dashboard/tasks/{task_id}")

    triggers = [
        [" ".join(td.text.split()) for td in row.walk() if td.tag == "td"][2]
        for row in page.all("tr", data_testid="run-row")
    ]
    assert triggers == ["Manual", "Late catch-up", "Scheduled"]
