"""The webhook pages in a real headless Chromium against `backbeat serve` (private addresses
allowed: the receiver is on loopback): add an endpoint pointing at a receiver that verifies
signatures with the `standardwebhooks` package, copy its secret from the one page that shows
it, run a task now, read the event's tries in the endpoint's delivery log (a 500, then a 204),
resend it and see the receiver get it again under the same `webhook-id`; then rotate the
secret and remove the endpoint after its confirmation. Every page state photographed is
audited (tests/browser/accessibility.py), and no console error or CSP violation is allowed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from backbeat.testing.fake_models import Reply
from tests.browser.conftest import Site, Tab
from tests.browser.conftest import open_site as serving_site
from tests.browser.test_dashboard_flow import RUN_TIMEOUT_MS, api, assert_no_problems, explained
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.slow(seconds=20)

DELIVERY_TIMEOUT = 30.0  # seconds for the outbox to reach a receiver, on a loaded machine
REPORT = "## Weekly pulse\n\nSynthpop streams are **up 12%**; Berlin leads."
SHOWN_ONCE = "Copy the signing secret now: it will not be shown again."


@contextmanager
def open_site(tmp_path: Path, **settings: str) -> Iterator[Site]:
    """The `site` fixture's server, with the outbox polled often and private addresses
    allowed for webhooks and Slack (receivers on loopback)."""
    fast = {"BACKBEAT_OUTBOX_POLL_SECONDS": "0.2", "BACKBEAT_WEBHOOK_ALLOW_PRIVATE": "true"}
    with serving_site(tmp_path, **{**fast, **settings}) as found:
        yield found


@pytest.fixture
def hooked_site(tmp_path: Path) -> Iterator[Site]:
    with open_site(tmp_path, BACKBEAT_WEBHOOK_RETRY_SECONDS="1,1,1") as found:
        yield found


def wait_until(site: Site, done: Callable[[], Any], what: str) -> Any:
    """Poll `done` (a look at the receiver or the API) until it answers something true."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while not (found := done()):
        assert time.monotonic() < deadline, f"still waiting for {what}\n{site.server.output()}"
        time.sleep(0.1)
    return found


def sign_in(site: Site, page: Page) -> None:
    page.goto(f"{site.url}/")
    page.get_by_label("API key").fill(site.key)
    page.get_by_test_id("sign-in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/tasks$"))


def new_task(site: Site, title: str = "Weekly genre pulse", **fields: Any) -> str:
    body = {
        "title": title,
        "prompt": "Summarise this week's genre trends for the artist.",
        "schedule": "0 9 * * 4",
        "timezone": "Europe/London",
        "artist_account_id": site.artist_id,
        **fields,
    }
    task_id: str = api(site, "POST", "/api/tasks", json=body)["tasks"][0]["id"]
    return task_id


def run_now(site: Site, page: Page, task_id: str) -> str:
    """Run the task from its page; the run page follows it to COMPLETED. The run's id."""
    page.goto(f"{site.url}/dashboard/tasks/{task_id}")
    page.get_by_test_id("run-now").click()
    expect(page).to_have_url(re.compile(r"/dashboard/runs/[^/?]+\?done=queued$"))
    expect(page.get_by_test_id("run-status")).to_have_text("COMPLETED", timeout=RUN_TIMEOUT_MS)
    return page.url.split("/dashboard/runs/")[1].split("?")[0]


def logged(site: Site, endpoint_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api(site, "GET", f"/api/webhooks/{endpoint_id}/deliveries")[
        "deliveries"
    ]
    return found


def test_add_an_endpoint_see_its_deliveries_and_resend_one(
    hooked_site: Site, tab: Tab, receiver: Receiver
) -> None:
    site, page = hooked_site, tab.page
    task_id = new_task(site)
    with explained(site, tab):
        sign_in(site, page)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
        expect(page.locator("h1")).to_have_text("Webhooks")
        expect(page.get_by_test_id("endpoints-table")).to_contain_text("No endpoints yet")
        tab.shoot("webhooks-empty")

        # A URL the API refuses: its message, in the form, and nothing added.
        form = page.get_by_test_id("webhook-form")
        url = form.get_by_label("URL")
        url.fill("ftp://hooks.label.example/backbeat")
        form.get_by_test_id("add-webhook").click()
        expect(page.get_by_test_id("form-error")).to_have_text(
            "url must be an http or https URL with a host"
        )
        expect(url).to_have_attribute("aria-invalid", "true")
        expect(url).to_have_value("ftp://hooks.label.example/backbeat")
        tab.shoot("webhooks-refused")
        assert [p for p in tab.log.take() if "400" not in p] == []  # the refusal's own status

        # The receiver's URL, for run events but not cancellations.
        url.fill(receiver.url)
        form.get_by_label(re.compile(r"^run\.canceled")).uncheck()
        form.get_by_test_id("add-webhook").click()
        expect(page.locator("h1")).to_have_text("Endpoint added")
        expect(page.get_by_test_id("secret-warning")).to_contain_text(SHOWN_ONCE)
        secret = page.get_by_label("Signing secret").input_value()
        assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", secret), secret
        tab.shoot("webhook-secret")
        receiver.secrets.append(secret)  # copied from the page: the receiver verifies with it
        receiver.fail_next = 1  # the first try answers 500

        page.get_by_test_id("secret-done").click()
        endpoint_id = page.url.rsplit("/", 1)[1]
        expect(page.get_by_test_id("endpoint-url")).to_have_text(receiver.url)
        expect(page.get_by_test_id("endpoint-events")).to_contain_text("run.completed")
        expect(page.get_by_test_id("endpoint-events")).not_to_contain_text("run.canceled")
        expect(page.get_by_test_id("endpoint-state")).to_have_text("Enabled")
        assert secret.removeprefix("whsec_") not in page.content()  # shown once only
        tab.shoot("webhook-endpoint-new")
        assert_no_problems(tab)

        # A run: its event fails once, then is accepted, under one webhook-id.
        site.models.script(Reply(REPORT))
        run_id = run_now(site, page, task_id)
        wait_until(site, receiver.accepted, "the event to be accepted")
        [delivery] = wait_until(
            site,
            lambda: [d for d in logged(site, endpoint_id) if d["status"] == "sent"],
            "the delivery log to say sent",
        )
        [first, second] = receiver.requests
        assert first.webhook_id == second.webhook_id == delivery["id"]
        assert (first.answered, second.answered) == (500, 204)
        assert second.event["data"]["run"]["id"] == run_id

        page.goto(f"{site.url}/dashboard/webhooks/{endpoint_id}")
        row = page.get_by_test_id("delivery-row")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-delivery-id", delivery["id"])
        expect(row.get_by_test_id("delivery-state")).to_have_text("sent")
        expect(row).to_contain_text("run.completed")
        tries = row.get_by_test_id("delivery-try")
        expect(tries).to_have_count(2)
        expect(tries.nth(0)).to_contain_text("HTTP 500, not accepted")
        expect(tries.nth(1)).to_contain_text("HTTP 204, accepted")
        expect(tries.nth(0).locator("time")).to_have_text(re.compile(r" UTC$"))
        expect(row.get_by_role("link")).to_have_attribute("href", f"/dashboard/runs/{run_id}")
        tab.shoot("webhook-deliveries")

        # Resend it by hand: the receiver gets it again, the log shows the third try.
        row.get_by_test_id("resend-delivery").click()
        expect(page.get_by_test_id("notice")).to_have_text(
            "Delivery queued to be sent again, under the same webhook-id."
        )
        wait_until(site, lambda: len(receiver.accepted()) == 2, "the resent event")
        third = receiver.requests[2]
        assert third.verified
        assert third.webhook_id == delivery["id"]
        assert third.event == second.event
        wait_until(
            site,
            lambda: [d for d in logged(site, endpoint_id) if len(d["tries"]) == 3],
            "the third try in the log",
        )
        page.reload()
        expect(tries).to_have_count(3)
        expect(tries.nth(2)).to_contain_text("HTTP 204, accepted")
        expect(row.get_by_test_id("delivery-state")).to_have_text("sent")
        tab.shoot("webhook-resent")
        assert_no_problems(tab)

        # Rotate the secret, the old one signing on for an hour: the new one shown once.
        page.get_by_label("Overlap, in hours").fill("1")
        page.get_by_test_id("rotate-webhook").click()
        expect(page.locator("h1")).to_have_text("New signing secret")
        rotated = page.get_by_label("Signing secret").input_value()
        assert rotated.startswith("whsec_")
        assert rotated != secret
        expect(page.get_by_test_id("overlap")).to_contain_text(
            "The previous secret keeps signing too until"
        )
        tab.shoot("webhook-rotated")
        page.get_by_test_id("secret-done").click()
        expect(page.get_by_test_id("previous-secret")).to_contain_text("Signs too until")

        # Remove it, after its confirmation page.
        page.get_by_test_id("remove-webhook").click()
        expect(page.locator("h1")).to_have_text("Remove this endpoint?")
        tab.shoot("webhook-remove")
        page.get_by_test_id("confirm-remove").click()
        expect(page.get_by_test_id("notice")).to_have_text(
            "Endpoint removed: it receives nothing from now on."
        )
        expect(page.get_by_test_id("endpoint-row")).to_have_count(0)
        tab.shoot("webhooks-removed")
        assert_no_problems(tab)
    assert api(site, "GET", "/api/webhooks")["endpoints"] == []
    assert secret not in site.server.stdout + site.server.stderr  # never logged
    assert rotated not in site.server.stdout + site.server.stderr
