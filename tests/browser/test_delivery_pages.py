"""A task's delivery settings and a run's deliveries in a real headless Chromium against
`backbeat serve`, with a real SMTP server (aiosmtpd) and a fake Slack incoming webhook on
loopback: the task form's Delivery section sets when reports are sent, to whom by email and to
which Slack URL, and saves them (the URL never shown back); a run made from the task page
then shows its deliveries (channel, recipient, state), and a second run, whose report
differs, shows how it compares with the first. Every page state photographed is audited
(tests/browser/accessibility.py), and no console error or CSP violation is allowed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backbeat.testing.fake_models import Reply
from backbeat.testing.fake_slack import FakeSlack
from tests.browser.conftest import OWNER, Site, Tab
from tests.browser.test_dashboard_flow import api, api_task, assert_no_problems, explained
from tests.browser.test_webhook_pages import new_task, open_site, run_now, sign_in, wait_until

pytestmark = pytest.mark.slow(seconds=20)

TITLE = "Weekly genre pulse"
FIRST = (
    "## Weekly pulse: Nova Lights\n\n"
    "Synthpop streams are up 12% week on week.\n\n"
    "Berlin leads the cities, then Lisbon."
)
SECOND = (
    "## Weekly pulse: Nova Lights\n\n"
    "Synthpop streams are up 20% week on week.\n\n"
    "Berlin leads the cities, then Lisbon."
)


@pytest.fixture
def delivering_site(tmp_path: Path) -> Iterator[Site]:
    with open_site(tmp_path) as found:  # the fake Slack is on loopback
        yield found


def deliveries_of(site: Site, run_id: str) -> list[dict[str, Any]]:
    [run] = api(site, "GET", "/api/tasks/runs", params={"runId": run_id})["runs"]
    found: list[dict[str, Any]] = (run.get("output") or {}).get("deliveries") or []
    return found


def all_sent(site: Site, run_id: str) -> list[dict[str, Any]]:
    """The run's report deliveries, once both (email and Slack) are sent; else []."""
    reports = [d for d in deliveries_of(site, run_id) if d["purpose"] == "report"]
    if len(reports) == 2 and all(d["status"] == "sent" for d in reports):
        return reports
    return []


def assert_delivered(page: Page, slack_host: str) -> None:
    """The run page lists the report's two deliveries, each sent, by channel and recipient."""
    shown = page.get_by_test_id("delivery")
    expect(shown).to_have_count(2)
    email = shown.filter(has_text=OWNER)
    expect(email).to_have_attribute("data-status", "sent")
    expect(email).to_contain_text(re.compile(rf"^Sent to {re.escape(OWNER)}: “.+” \(the report\)$"))
    posted = shown.filter(has_text="(Slack)")
    expect(posted).to_have_attribute("data-status", "sent")
    expect(posted).to_contain_text(re.compile(rf"^Sent to \S*{re.escape(slack_host)}\S* \(Slack\)"))


def test_the_task_form_sets_delivery_and_the_run_page_shows_it_and_the_diff(
    delivering_site: Site, tab: Tab, slack: FakeSlack
) -> None:
    site, page = delivering_site, tab.page
    task_id = new_task(site, TITLE)
    slack_url = slack.url()
    with explained(site, tab):
        sign_in(site, page)
        page.goto(f"{site.url}/dashboard/tasks/{task_id}")
        expect(page.get_by_test_id("task-delivery")).to_contain_text(
            "Reports sent: only what the model emails"
        )

        # The Delivery section: every report, by email to the owner and to Slack.
        section = page.get_by_test_id("delivery-section")
        section.get_by_label("Send each report").select_option(label="Always")
        section.get_by_label("Email recipients").fill(OWNER)
        section.get_by_label("Slack incoming webhook URL").fill(slack_url)
        tab.shoot("task-delivery-form")
        page.get_by_test_id("save-task").click()

        expect(page.get_by_test_id("notice")).to_have_text("Task saved.")
        summary = page.get_by_test_id("task-delivery")
        expect(summary).to_contain_text("Reports sent: always")
        expect(summary).to_contain_text(f"email to {OWNER}")
        expect(summary).to_contain_text(f"Slack (http://127.0.0.1/…{slack_url[-4:]})")
        section = page.get_by_test_id("delivery-section")
        expect(section.get_by_label("Send each report")).to_have_value("always")
        expect(section.get_by_label("Email recipients")).to_have_value(OWNER)
        expect(section.get_by_label("Slack incoming webhook URL")).to_have_value("")
        assert slack_url not in page.content()  # a secret: never shown back
        tab.shoot("task-delivery-saved")
        assert_no_problems(tab)
        delivery = api_task(site, task_id)["delivery"]
        assert delivery["when"] == "always"
        assert delivery["email"] == [OWNER]
        assert delivery["slack"]["webhook_url"] == f"http://127.0.0.1/…{slack_url[-4:]}"

        # A first run: its report goes by email and to Slack; nothing to compare it with.
        site.models.script(Reply(FIRST))
        first_id = run_now(site, page, task_id)
        wait_until(site, lambda: all_sent(site, first_id), "the first report's deliveries")
        page.reload()
        assert_delivered(page, "127.0.0.1")
        expect(page.get_by_test_id("report-diff")).to_have_count(0)
        tab.shoot("run-delivered")

        # A second run, whose report differs: the page shows what changed, line by line.
        site.models.script(Reply(SECOND))
        second_id = run_now(site, page, task_id)
        wait_until(site, lambda: all_sent(site, second_id), "the second report's deliveries")
        page.reload()
        assert_delivered(page, "127.0.0.1")
        compared = page.get_by_test_id("report-diff")
        expect(compared.locator("h2")).to_have_text("Compared with the previous report")
        expect(compared.get_by_test_id("diff-summary")).to_have_text("1 line added, 1 removed")
        expect(compared.get_by_role("link", name="the previous completed run")).to_have_attribute(
            "href", f"/dashboard/runs/{first_id}"
        )
        expect(compared.locator("li.removed")).to_have_text(
            "Removed: Synthpop streams are up 12% week on week."
        )
        expect(compared.locator("li.added")).to_have_text(
            "Added: Synthpop streams are up 20% week on week."
        )
        expect(compared.locator("li.same").filter(has_text="Berlin leads")).to_have_count(1)
        compared.scroll_into_view_if_needed()
        tab.shoot("run-compared")
        assert_no_problems(tab)

    # Each report reached the owner once by email and Slack once, in order.
    assert [rcpts for _, rcpts in site.smtp.handler.envelopes] == [[OWNER], [OWNER]]
    posted = [str(payload) for payload in slack.posted()]
    assert len(posted) == 2
    assert "up 12%" in posted[0]
    assert "up 20%" in posted[1]
    assert slack_url not in site.server.stdout + site.server.stderr  # never logged
