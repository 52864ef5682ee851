"""The dashboard on a phone (390 x 844, touch, a browser in Paris) against `backbeat serve`:
no page is wider than the screen, the tasks table scrolls sideways in its own named box that
says so, the task form offers artists by name and a searchable list of zones, and every time
is labelled with its zone (the viewer's own beside it, labelled too); the webhook pages
(endpoints, a new secret, a delivery log) fit too. Every page state
photographed is audited as in the dashboard flow (tests/browser/accessibility.py)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import (
    ARTIST,
    REPORT_CSP_VIOLATIONS,
    BrowserLog,
    Site,
    Tab,
)
from tests.browser.test_dashboard_flow import OTHER_TASKS, api, assert_no_problems, explained
from tests.browser.test_dashboard_flow import other_tasks as seed_tasks

pytestmark = pytest.mark.slow(seconds=10)

PHONE = {"width": 390, "height": 844}
YOUR_ZONE = "Europe/Paris"  # an hour ahead of UTC and London in March: notes are added
ZONE = "Europe/Lisbon"
REFUSED_HOOK = "https://203.0.113.10/backbeat"  # a documentation address: never posted to


@pytest.fixture
def phone(browser: Browser, tmp_path: Path) -> Iterator[Tab]:
    context = browser.new_context(
        viewport=PHONE,  # type: ignore[arg-type]
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="en-GB",
        timezone_id=YOUR_ZONE,
        color_scheme="light",
    )
    context.set_default_timeout(10_000)
    log = BrowserLog()
    page = context.new_page()
    page.add_init_script(REPORT_CSP_VIOLATIONS)
    page.on("console", log.on_console)
    page.on("pageerror", log.on_page_error)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:  # screenshots in the test's folder only: the README's are desktop ones
        yield Tab(page, log, shots, None)
    finally:
        context.close()


def assert_fits(page: Page) -> None:
    """Nothing makes the page itself scroll sideways (the tables scroll in their boxes)."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width} px wide"


def assert_times_labelled(page: Page) -> None:
    """Each time ends with its zone's name; a note of the viewer's own time names theirs."""
    for text, zone in page.locator("time[data-zone]").evaluate_all(
        "times => times.map(t => [t.textContent, t.dataset.zone])"
    ):
        assert text.endswith(f" {zone}"), (text, zone)
    for note in page.locator("[data-your-time]").all_text_contents():
        assert re.fullmatch(rf" \(your time: .+ {YOUR_ZONE}\)", note), note


def test_the_pages_fit_a_phone(site: Site, phone: Tab) -> None:
    # An endpoint the seeded run's event is refused for (a documentation address, not
    # public): the webhook pages have an endpoint, a delivery and a long error to show.
    hooked = httpx.post(
        f"{site.url}/api/webhooks", headers=site.headers, json={"url": REFUSED_HOOK}, timeout=10.0
    )
    assert hooked.status_code == 201, hooked.text
    seed_tasks(site)
    page = phone.page
    with explained(site, phone):
        page.goto(f"{site.url}/")
        page.get_by_label("API key").fill(site.key)
        page.get_by_test_id("sign-in").click()

        # The tasks page: its table scrolls in a named box, with a hint that it does.
        expect(page.get_by_test_id("task-row")).to_have_count(len(OTHER_TASKS))
        assert_fits(page)
        box = page.get_by_role("region", name="Tasks of this account, newest first")
        expect(box).to_have_attribute("data-scrolls", "")
        expect(page.locator("#tasks-scroll-hint")).to_be_visible()
        assert box.evaluate("box => box.scrollWidth > box.clientWidth")
        box.focus()  # the keyboard scrolls it too
        page.keyboard.press("ArrowRight")
        page.keyboard.press("End")
        page.wait_for_function("box => box.scrollLeft > 0", arg=box.element_handle())
        nav = page.get_by_role("navigation", name="Main")
        for link in nav.get_by_role("link").all():
            bounds = link.bounding_box()
            assert bounds is not None
            assert bounds["x"] + bounds["width"] <= PHONE["width"]
        new_york = page.get_by_test_id("task-row").filter(has_text="America/New_York")
        expect(new_york.locator("time")).to_have_text(re.compile(r" America/New_York$"))
        expect(new_york.locator("[data-your-time]")).to_contain_text(YOUR_ZONE)
        assert_times_labelled(page)
        phone.shoot("phone-tasks")
        assert_no_problems(phone)

        # The form: the artist by name, the zone searched in the API's list.
        nav.get_by_role("link", name="New task").click()
        assert_fits(page)
        form = page.get_by_test_id("task-form")
        artist = form.get_by_label("Artist", exact=True)
        expect(artist.locator("option:checked")).to_have_text(ARTIST)  # the only one
        expect(artist).to_have_value(site.artist_id)
        zone = form.get_by_label("Timezone")
        expect(zone).to_have_value("UTC")
        zones = zone.evaluate("input => Array.from(input.list.options, o => o.value)")
        assert {"UTC", "Europe/London", ZONE} <= set(zones)
        assert not [z for z in zones if z in ("localtime", "posixrules", "Factory")]
        form.get_by_label("Title").fill("Lisbon morning check")
        form.get_by_label("Prompt").fill("Look at this week's news for the artist.")
        form.get_by_label("Schedule (cron)").fill("0 9 * * 4")
        zone.fill(ZONE)
        agent = form.get_by_role("group", name="Agent")  # its section: tools, cost cap
        agent.get_by_label("Tools", exact=True).select_option("pick")
        agent.get_by_label("read_artist_profile").check()
        agent.get_by_label("Cost cap per run (USD)").fill("0.5")
        preview = page.get_by_test_id("preview-upcoming").locator("time")
        expect(page.locator("[data-preview=zone]")).to_have_text(f"({ZONE})")
        expect(preview).to_have_count(5)
        expect(preview.first).to_have_text(re.compile(rf"^Thu 2026-03-05 09:00 {ZONE}$"))
        assert_times_labelled(page)
        assert_fits(page)
        phone.shoot("phone-new-task")
        page.get_by_test_id("save-task").click()

        # The task's page.
        expect(page.get_by_test_id("notice")).to_have_text("Task created.")
        fire_times = page.get_by_test_id("task-upcoming").locator("time")
        expect(fire_times.first).to_have_text(f"Thu 2026-03-05 09:00 {ZONE}")
        expect(page.get_by_test_id("task-agent")).to_have_text(
            "Agent: tools read_artist_profile · at most $0.50 per run"
        )
        assert_times_labelled(page)
        assert_fits(page)
        phone.shoot("phone-task")

        # A run's page (the one the seeded task ran).
        [run] = api(site, "GET", "/api/tasks/runs")["runs"]
        page.goto(f"{site.url}/dashboard/runs/{run['id']}")
        expect(page.get_by_test_id("run-status")).to_have_text("COMPLETED")
        facts = page.get_by_test_id("run-facts").locator("time")
        expect(facts.first).to_have_text(re.compile(r" America/New_York$"))
        assert_times_labelled(page)
        assert_fits(page)
        phone.shoot("phone-run")
        assert_no_problems(phone)

        # The webhook pages: the endpoints table scrolls in its box, the add form and the
        # page showing a new secret fit, and so does an endpoint's delivery log.
        nav.get_by_role("link", name="Webhooks").click()
        expect(page.get_by_test_id("endpoint-row")).to_have_count(1)
        endpoints = page.get_by_role(
            "region", name="Webhook endpoints of this account, oldest first"
        )
        expect(endpoints).to_have_attribute("data-scrolls", "")
        assert_times_labelled(page)
        assert_fits(page)
        phone.shoot("phone-webhooks")
        form = page.get_by_test_id("webhook-form")
        form.get_by_label("URL").fill("https://hooks.label.example/backbeat")
        form.get_by_test_id("add-webhook").click()
        expect(page.get_by_test_id("secret-warning")).to_be_visible()
        assert_fits(page)
        phone.shoot("phone-webhook-secret")
        page.goto(f"{site.url}/dashboard/webhooks/{hooked.json()['id']}")
        expect(page.get_by_test_id("delivery-row")).to_have_count(1)
        deliveries = page.get_by_role("region", name="Deliveries to this endpoint, newest first")
        expect(deliveries).to_have_attribute("data-scrolls", "")
        assert_times_labelled(page)
        assert_fits(page)
        phone.shoot("phone-webhook")
        assert_no_problems(phone)
