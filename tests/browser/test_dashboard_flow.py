"""The dashboard in a real headless Chromium against `backbeat serve`: sign in with the
keyboard, create a task through the form (its schedule previewed live as it is typed), see its
next fire times, pause it, run it now against the fake model server, watch the run page poll
its way to COMPLETED, and read its output; then the task's history, the tasks page and a
delete. No console error, uncaught exception or CSP violation anywhere, and no accessibility
problem (WCAG AA contrast, labels, accessible names: tests/browser/accessibility.py) on any
page state photographed.

Every page visited is saved as a full-page screenshot under the test's temporary folder
(`screenshots/NN-name.png`), and also as `name.png` in $BACKBEAT_SCREENSHOT_DIR when that is
set (cropped to the page's content, at most 1,400 pixels tall). The README's images come
from such a run:

    BACKBEAT_SCREENSHOT_DIR=/tmp/shots .venv/bin/pytest tests/browser
    cp /tmp/shots/tasks-after.png docs/screenshots/tasks.png
    cp /tmp/shots/run-completed.png docs/screenshots/run.png
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from backbeat.dashboard.present import LIVE_STATUSES, describe_schedule
from backbeat.testing.fake_models import Delay, Reply, ToolCallReply
from tests.browser.conftest import ARTIST, OWNER, Site, Tab

pytestmark = pytest.mark.slow(seconds=10)

LIVE = {status.value for status in LIVE_STATUSES}
RUN_TIMEOUT_MS = 30_000  # the run page must reach COMPLETED within this, on a loaded machine
SCHEDULE = "0 9 * * 4"
TIMEZONE = "Europe/London"
TITLE = "Weekly genre pulse"
PROMPT = "Check the artist's news page and email the owner a short genre pulse."
SUBJECT = "Nova Lights: weekly pulse"
FINAL = (
    "## Weekly pulse: Nova Lights\n\n"
    "Streams are **up 12%** week on week, and the Lido Berlin show on 14 March is *sold out*.\n\n"
    "- Spotify: 48,200 monthly listeners (+9%)\n"
    "- New playlist adds: 3, the largest *Synth Nights* (210k followers)\n\n"
    "Emailed the owner the summary."
)
OTHER_TASKS = [  # (title, schedule, timezone); none fires while the test runs
    ("Monday streaming report", "30 8 * * 1", "America/New_York"),
    ("Playlist adds digest", "0 18 * * 5", "UTC"),
    ("Tour ticket watch", "0 */6 * * *", "Europe/Berlin"),
]


# --- Through the API, for setting up and for cross-checking what the pages show -------------


def api(site: Site, method: str, path: str, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{site.url}{path}", headers=site.headers, timeout=10.0, **kwargs
    )
    assert response.status_code == 200, f"{method} {path}: {response.text}"
    return response.json()


def api_task(site: Site, task_id: str) -> dict[str, Any]:
    [task] = [task for task in api(site, "GET", "/api/tasks")["tasks"] if task["id"] == task_id]
    assert isinstance(task, dict)
    return task


def api_error(site: Site, schedule: str, timezone: str) -> str:
    """The API's message for a task with this schedule and zone."""
    body = {
        "title": "x",
        "prompt": "x",
        "schedule": schedule,
        "timezone": timezone,
        "artist_account_id": site.artist_id,
    }
    response = httpx.post(f"{site.url}/api/tasks", headers=site.headers, json=body, timeout=10.0)
    assert response.status_code == 400, response.text
    message: str = response.json()["error"]
    return message


def other_tasks(site: Site) -> None:
    """Three more tasks, so the tasks page looks lived in: one with a completed run (the fake
    model's default answer), one paused."""
    ids = []
    for title, schedule, timezone in OTHER_TASKS:
        body = {
            "title": title,
            "prompt": f"{title}: summarise what changed for the artist this week.",
            "schedule": schedule,
            "timezone": timezone,
            "artist_account_id": site.artist_id,
        }
        ids.append(api(site, "POST", "/api/tasks", json=body)["tasks"][0]["id"])
    api(site, "PATCH", "/api/tasks", json={"id": ids[1], "enabled": False})
    [run] = api(site, "POST", "/api/tasks/runs/trigger", json={"task_id": ids[0]})["runs"]
    deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
    while run["status"] in LIVE:
        assert time.monotonic() < deadline, f"seeded run still {run}\n{site.server.output()}"
        time.sleep(0.1)
        [run] = api(site, "GET", "/api/tasks/runs", params={"runId": run["id"]})["runs"]
    assert run["status"] == "COMPLETED", run
    site.models.reset()  # the flow's own script starts from nothing


# --- Failing with everything needed to understand the failure ----------------------------------


@contextmanager
def explained(site: Site, tab: Tab) -> Iterator[None]:
    """Any failure is reported with the page's URL, the browser's console and the server's
    output, and a screenshot of the page as it was."""
    try:
        yield
    except Exception as exc:
        try:
            tab.page.screenshot(path=tab.shots / "failure.png", full_page=True)
            where = tab.page.url
        except Exception as screenshot_error:
            where = f"(page unavailable: {screenshot_error})"
        console = "\n".join(tab.log.messages) or "(nothing)"
        pytest.fail(
            f"{type(exc).__name__}: {exc}\n--- page ---\n{where}\n"
            f"--- browser console ---\n{console}\n{site.server.output()}",
            pytrace=True,
        )


def assert_no_problems(tab: Tab) -> None:
    problems = tab.log.take()
    assert not problems, "\n".join(problems)


# --- The flow --------------------------------------------------------------------------------


def test_sign_in_create_pause_run_and_read_the_output(site: Site, tab: Tab) -> None:
    other_tasks(site)
    page = tab.page
    with explained(site, tab):
        # Sign in with the keyboard only: the key field has the focus, Enter submits.
        page.goto(f"{site.url}/")
        key = page.get_by_label("API key")
        expect(key).to_be_focused()
        tab.shoot("sign-in")
        page.keyboard.type("bbk_not-a-real-key")
        page.keyboard.press("Enter")
        expect(page.get_by_test_id("form-error")).to_have_text(
            "That API key was not accepted. Check it, or ask for a new one."
        )
        expect(key).to_have_attribute("aria-invalid", "true")
        expect(key).to_be_focused()
        tab.shoot("sign-in-refused")
        # The refused sign-in answered 401: the only console error the flow expects.
        assert [p for p in tab.log.take() if "401" not in p] == []
        page.keyboard.type(site.key)
        page.keyboard.press("Tab")
        expect(page.get_by_test_id("sign-in")).to_be_focused()
        page.keyboard.press("Enter")

        # The tasks page: the three tasks made through the API.
        expect(page).to_have_url(re.compile(r"/dashboard/tasks$"))
        expect(page.get_by_test_id("signed-in-as")).to_contain_text(OWNER)
        expect(page.get_by_test_id("task-row")).to_have_count(len(OTHER_TASKS))
        tab.shoot("tasks-before")
        assert_no_problems(tab)

        # A new task through the form; the preview follows the schedule as it is typed.
        page.get_by_test_id("new-task-link").click()
        expect(page.locator("h1")).to_have_text("New task")
        form = page.get_by_test_id("task-form")
        preview = page.get_by_test_id("schedule-preview")
        upcoming = page.get_by_test_id("preview-upcoming").locator("li")
        preview_error = preview.locator("[data-preview=error]")
        form.get_by_label("Title").fill(TITLE)
        form.get_by_label("Prompt").fill(PROMPT)
        form.get_by_label("Artist", exact=True).select_option(label=ARTIST)  # by name
        schedule = form.get_by_label("Schedule (cron)")
        timezone = form.get_by_label("Timezone")

        schedule.press_sequentially("61 9 * * 4")
        expect(preview_error).to_be_visible()
        expect(preview_error).to_have_text(api_error(site, "61 9 * * 4", "UTC"))
        expect(schedule).to_have_attribute("aria-invalid", "true")
        expect(upcoming).to_have_count(0)
        tab.shoot("new-task-invalid-schedule")

        schedule.fill(SCHEDULE)
        expect(preview.locator("[data-preview=description]")).to_have_text(
            describe_schedule(SCHEDULE)
        )
        expect(preview.locator("[data-preview=zone]")).to_have_text("(UTC)")
        expect(preview_error).to_be_hidden()
        expect(schedule).not_to_have_attribute("aria-invalid", "true")
        expect(upcoming).to_have_count(5)

        timezone.fill("Mars/Olympus_Mons")
        expect(preview_error).to_have_text(api_error(site, SCHEDULE, "Mars/Olympus_Mons"))
        expect(timezone).to_have_attribute("aria-invalid", "true")
        timezone.fill(TIMEZONE)
        expect(preview.locator("[data-preview=zone]")).to_have_text(f"({TIMEZONE})")
        expect(upcoming).to_have_count(5)
        expect(timezone).not_to_have_attribute("aria-invalid", "true")
        tab.shoot("new-task-preview")
        previewed = upcoming.locator("time").evaluate_all(
            "times => times.map(t => t.getAttribute('datetime'))"
        )
        page.get_by_test_id("save-task").click()

        # Its page: created, with the next five fire times the API reports.
        expect(page.get_by_test_id("notice")).to_have_text("Task created.")
        expect(page.get_by_test_id("task-title")).to_have_text(TITLE)
        task_id = page.url.split("/dashboard/tasks/")[1].split("?")[0]
        fire_times = page.get_by_test_id("task-upcoming").locator("time")
        expect(fire_times).to_have_count(5)
        shown = fire_times.evaluate_all("times => times.map(t => t.getAttribute('datetime'))")
        assert shown == api_task(site, task_id)["upcoming"] == previewed
        expect(page.get_by_test_id("task-schedule-description")).to_have_text(
            describe_schedule(SCHEDULE)
        )
        expect(page.get_by_test_id("task-state")).to_have_text("Enabled")
        tab.shoot("task-created")

        # Pause it: paused, no fire times, and Resume offered instead.
        page.get_by_test_id("pause-task").click()
        expect(page.get_by_test_id("notice")).to_contain_text("Task paused")
        expect(page.get_by_test_id("task-state")).to_have_text("Paused")
        expect(page.get_by_test_id("task-upcoming")).to_have_count(0)
        expect(page.get_by_test_id("task-facts")).to_contain_text("None: the task is paused.")
        expect(page.get_by_test_id("pause-task")).to_have_count(0)
        expect(page.get_by_test_id("resume-task")).to_be_visible()
        assert api_task(site, task_id)["enabled"] is False
        assert api_task(site, task_id)["upcoming"] == []
        tab.shoot("task-paused")
        assert_no_problems(tab)

        # Run it now. The model takes a moment, so the run page opens while the run can still
        # change, polls, and reloads itself as the status moves on, up to COMPLETED.
        site.models.script(
            Delay(2.5),
            ToolCallReply("fetch_web_page", {"url": site.news_url}),
            ToolCallReply(
                "send_email",
                {"to": [OWNER], "subject": SUBJECT, "body": "Lido Berlin is sold out."},
            ),
            Reply(FINAL),
        )
        page.get_by_test_id("run-now").click()
        expect(page).to_have_url(re.compile(r"/dashboard/runs/[^/?]+\?done=queued$"))
        run_id = page.url.split("/dashboard/runs/")[1].split("?")[0]
        expect(page.get_by_test_id("notice")).to_contain_text("Run queued")
        expect(page.locator("[data-poll-url]")).to_have_count(1)
        expect(page.get_by_test_id("run-status")).to_have_text(re.compile("QUEUED|EXECUTING"))
        expect(page.get_by_test_id("cancel-run")).to_be_visible()
        tab.shoot("run-live")

        expect(page.get_by_test_id("run-status")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)
        # The page reloaded itself (its own location.replace drops ?done=queued).
        expect(page).to_have_url(f"{site.url}/dashboard/runs/{run_id}")
        expect(page.get_by_test_id("notice")).to_have_count(0)
        expect(page.locator("[data-poll-url]")).to_have_count(0)
        expect(page.get_by_test_id("cancel-run")).to_have_count(0)
        attempts = page.get_by_test_id("attempts").get_by_test_id("attempt")
        expect(attempts).to_have_count(1)
        expect(attempts).to_contain_text("COMPLETED")

        # Its output: the model's Markdown rendered, the tool calls, the email.
        output = page.get_by_test_id("run-output")
        output.scroll_into_view_if_needed()
        expect(output.locator("h2")).to_have_text("Weekly pulse: Nova Lights")
        expect(output.locator("strong")).to_have_text("up 12%")
        expect(output.locator("li")).to_have_count(2)
        expect(output).to_contain_text("the Lido Berlin show on 14 March is sold out.")
        expect(output).not_to_contain_text("**")
        calls = page.get_by_test_id("tool-calls").locator("tbody tr")
        expect(calls).to_have_count(2)
        expect(calls.nth(0)).to_contain_text("fetch_web_page")
        expect(calls.nth(1)).to_contain_text("send_email")
        expect(page.get_by_test_id("pages-fetched")).to_contain_text(site.news_url)
        expect(page.get_by_test_id("emails")).to_contain_text(f"Sent to {OWNER}")
        tab.shoot("run-completed")
        assert_no_problems(tab)
        assert [rcpts for _, rcpts in site.smtp.handler.envelopes] == [[OWNER]]

        # Back on the task: the run in its history, and the charts; open it from there.
        page.get_by_test_id("run-task-link").click()
        row = page.get_by_test_id("run-row")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-run-id", run_id)
        expect(row).to_contain_text("COMPLETED")
        expect(page.get_by_test_id("chart-duration")).to_be_visible()
        expect(page.get_by_test_id("chart-cost")).to_be_visible()
        tab.shoot("task-history")
        row.get_by_role("link").click()
        expect(page).to_have_url(f"{site.url}/dashboard/runs/{run_id}")
        expect(page.get_by_test_id("run-output").locator("h2")).to_have_text(
            "Weekly pulse: Nova Lights"
        )

        # The tasks page: four tasks, this one paused with its last run completed.
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Tasks").click()
        rows = page.get_by_test_id("task-row")
        expect(rows).to_have_count(len(OTHER_TASKS) + 1)
        mine = page.locator(f"[data-testid=task-row][data-task-id='{task_id}']")
        expect(mine).to_contain_text(TITLE)
        expect(mine).to_contain_text("Paused")
        expect(mine).to_contain_text("COMPLETED")
        tab.shoot("tasks-after")

        # Delete another task, after its confirmation page.
        page.get_by_role("link", name=OTHER_TASKS[2][0]).click()
        page.get_by_test_id("delete-task").click()
        expect(page.locator("h1")).to_have_text(f"Delete “{OTHER_TASKS[2][0]}”?")
        tab.shoot("task-delete")
        page.get_by_test_id("confirm-delete").click()
        expect(page.get_by_test_id("notice")).to_have_text("Task deleted. Its runs stay readable.")
        expect(rows).to_have_count(len(OTHER_TASKS))
        tab.shoot("tasks-deleted")
        assert_no_problems(tab)

    assert [path.name for path in tab.taken] == [
        f"{number:02d}-{name}.png"
        for number, name in enumerate(
            [
                "sign-in",
                "sign-in-refused",
                "tasks-before",
                "new-task-invalid-schedule",
                "new-task-preview",
                "task-created",
                "task-paused",
                "run-live",
                "run-completed",
                "task-history",
                "tasks-after",
                "task-delete",
                "tasks-deleted",
            ],
            start=1,
        )
    ]
    assert all(path.stat().st_size > 0 for path in tab.taken)
