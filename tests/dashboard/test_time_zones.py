"""Every time a page shows says which zone it is in: a task's fire times and runs in the
task's own zone, the preview in the zone typed; the script adds the viewer's own, labelled."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from backbeat.dashboard.times import in_zone, instant, shown_zone
from backbeat.domain.deliveries import SendOutcome
from backbeat.services.worker import Outcome
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.dashboard.helpers import Page, create_task, finish_queued_run, signed_in, work_queue
from tests.outbox import email_sent

# A time as shown: weekday, date, time (seconds for run events), zone.
SHOWN = re.compile(r"^[A-Z][a-z]{2} \d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})? (?P<zone>\S+)$")


def times_on(page: Page) -> list[tuple[str, str]]:
    """(text, zone) of every <time> on the page, each checked to be labelled with its zone."""
    found = []
    for node in page.all("time"):
        text, zone = node.text.strip(), node.attrs.get("data-zone") or ""
        match = SHOWN.match(text)
        assert match is not None, text
        assert match["zone"] == zone, (text, zone)
        assert "data-local" in node.attrs  # the script adds the viewer's own time
        found.append((text, zone))
    assert found, page.html
    return found


def test_in_zone_labels_each_time_with_its_zone() -> None:
    summer = datetime(2026, 7, 2, 8, 0, 5, tzinfo=UTC)
    assert in_zone(summer, "Europe/London") == "Thu 2026-07-02 09:00 Europe/London"
    assert in_zone(summer, "Asia/Kolkata", seconds=True) == "Thu 2026-07-02 13:30:05 Asia/Kolkata"
    assert in_zone(summer) == "Thu 2026-07-02 08:00 UTC"
    # A zone a task may no longer be given (host-dependent) is shown, labelled, in UTC.
    for legacy in ("localtime", "posixrules", "Factory", "posix/Europe/Paris", "", None):
        assert shown_zone(legacy) == "UTC"
        assert in_zone(summer, legacy) == "Thu 2026-07-02 08:00 UTC"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-05T12:03:00+00:00", datetime(2026, 1, 5, 12, 3, tzinfo=UTC)),
        ("2026-01-05T12:03:00", None),  # no zone: not an instant
        ("soon", None),
        (None, None),
    ],
)
def test_instant_reads_iso_instants_only(text: object, expected: datetime | None) -> None:
    assert instant(text) == expected


def test_the_tasks_page_shows_each_next_run_in_its_tasks_zone(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    create_task(dashboard, alice, title="Paris", schedule="0 9 * * 4", timezone="Europe/Paris")
    create_task(dashboard, alice, title="Plain", schedule="0 9 * * 4", timezone="UTC")

    page = dashboard.get("/dashboard/tasks")

    assert sorted(times_on(page)) == [
        ("Thu 2026-01-08 09:00 Europe/Paris", "Europe/Paris"),
        ("Thu 2026-01-08 09:00 UTC", "UTC"),
    ]


def test_the_task_page_labels_fire_times_preview_and_history(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, schedule="30 8 * * 1-5", timezone="America/New_York")
    dashboard.post(f"/dashboard/tasks/{task_id}/run")
    finish_queued_run(backbeat, clock, retry_first=False)

    page = dashboard.get(f"/dashboard/tasks/{task_id}")

    assert {zone for _, zone in times_on(page)} == {"America/New_York"}
    upcoming = [n.text for n in page.testid("task-upcoming").walk() if n.tag == "time"]
    assert upcoming[:2] == [
        "Mon 2026-01-05 08:30 America/New_York",
        "Tue 2026-01-06 08:30 America/New_York",
    ]
    preview = [n.text for n in page.testid("preview-upcoming").walk() if n.tag == "time"]
    assert preview == upcoming
    [row] = page.all("tr", data_testid="run-row")
    [created] = [node.text for node in row.walk() if node.tag == "time"]
    assert created == "Mon 2026-01-05 07:00:00 America/New_York"  # 12:00 UTC, with seconds
    assert "schedule's time zone" in page.testid("schedule-preview").text


def test_the_run_page_shows_times_in_the_tasks_zone(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, timezone="Asia/Kolkata")
    location = dashboard.post(f"/dashboard/tasks/{task_id}/run").headers["location"]
    queue = work_queue(backbeat, clock)
    clock.advance(seconds=5)
    [claim] = queue.claim("worker-1", 1)
    email_sent(backbeat, clock, claim, "tour@example.com", "Pulse", SendOutcome.TEMPORARY)
    queue.finish(claim, Outcome(output={"text": "Done."}, failure=None, cost_in_cents=0.0))

    page = dashboard.get(location.split("?")[0])

    shown = times_on(page)
    assert {zone for _, zone in shown} == {"Asia/Kolkata"}
    facts = page.testid("run-facts").text
    assert "Mon 2026-01-05 17:30:00 Asia/Kolkata" in facts  # created at 12:00:00 UTC
    [pending] = page.all("li", data_status="pending")
    [next_try] = [node for node in pending.walk() if node.tag == "time"]
    assert next_try.text.endswith(" Asia/Kolkata")


def test_the_scroll_boxes_are_named_and_hinted(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    for path, name in (("/dashboard/tasks", "tasks"), (f"/dashboard/tasks/{task_id}", "runs")):
        page = dashboard.get(path)
        box = page.testid(f"{name}-scroll")
        assert box.attrs["role"] == "region"
        assert box.attrs["tabindex"] == "0"
        caption = page.one("caption", id=box.attrs["aria-labelledby"] or "")
        assert caption.text.strip()
        hint = page.one(id=box.attrs["data-scroll-hint"] or "")
        assert hint.text.strip() == "Scroll the table sideways to see all of it."
        assert "hidden" in hint.attrs  # until the script finds the table wider than its box
