"""The webhook pages: the account's endpoints, adding one (its signing secret shown once, and
the API's messages, or a private address, shown in the form), rotating its secret with an
overlap, enabling a disabled one, removing one after a confirmation, and an endpoint's
delivery log (each try's time and status code) with a resend, against a real receiver on
loopback that verifies signatures with the `standardwebhooks` package."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.dashboard import webhook_pages
from backbeat.domain.runs import RunStatus
from backbeat.domain.webhooks import EventType
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_tenant
from tests.dashboard.helpers import Dashboard, Page, signed_in
from tests.webhook_receiver import Receiver
from tests.worker.harness import make_harness, run

HOOK = "https://hooks.label.example/backbeat"
ALL_EVENTS = {f"event_{event.value.replace('.', '_')}": "1" for event in EventType}
SHOWN_ONCE = "Copy the signing secret now: it will not be shown again."


def api_endpoints(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get("/api/webhooks", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["endpoints"]
    return found


def add(dashboard: Dashboard, url: str = HOOK, **events: str) -> Page:
    dashboard.get("/dashboard/webhooks")
    response = dashboard.post("/dashboard/webhooks", {"url": url, **(events or ALL_EVENTS)})
    return Page(response)


def added(dashboard: Dashboard, url: str = HOOK, **events: str) -> tuple[str, str]:
    """A new endpoint's id and its secret, as the page shows them once."""
    page = add(dashboard, url, **events)
    assert page.status == 200, page.html
    href = page.testid("secret-done").attrs["href"] or ""
    return href.rsplit("/", 1)[1], page.testid("webhook-secret").text


def allow_private(backbeat: Backbeat) -> None:
    """As BACKBEAT_WEBHOOK_ALLOW_PRIVATE=true: the receiver is on loopback."""
    backbeat.settings = backbeat.settings.model_copy(update={"webhook_allow_private": True})


# --- The list and the add form ---------------------------------------------------------------


def test_the_nav_leads_to_an_empty_list_and_a_form_with_every_event(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)

    tasks = dashboard.get("/dashboard/tasks")
    assert tasks.testid("webhooks-link").attrs["href"] == "/dashboard/webhooks"
    page = dashboard.get("/dashboard/webhooks")

    assert page.status == 200
    assert page.title == "Webhooks"
    assert page.testid("webhooks-link").attrs["aria-current"] == "page"
    assert "No endpoints yet" in page.text("endpoints-table")
    assert page.label_for("webhook-url") == "URL"
    boxes = [node for node in page.testid("webhook-events").walk() if node.tag == "input"]
    assert [box.attrs["name"] for box in boxes] == list(ALL_EVENTS)
    assert all("checked" in box.attrs for box in boxes)  # the API's default: every event
    assert "run.failed" in page.label_for("webhook-event_run_failed")


def test_an_added_endpoint_shows_its_secret_once_then_only_its_facts(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)

    page = add(dashboard, HOOK, event_run_failed="1", event_run_canceled="1")

    assert page.status == 200
    assert page.title == "Endpoint added"
    secret = page.testid("webhook-secret").text
    assert secret.startswith("whsec_")
    assert page.label_for("webhook-secret") == "Signing secret"
    assert "readonly" in page.testid("webhook-secret").attrs
    assert SHOWN_ONCE in page.text("secret-warning")
    assert page.response.headers["cache-control"] == "no-store"
    [endpoint] = api_endpoints(client, alice)
    assert endpoint["url"] == HOOK
    assert endpoint["events"] == ["run.failed", "run.canceled"]
    assert page.testid("secret-done").attrs["href"] == f"/dashboard/webhooks/{endpoint['id']}"

    listing = dashboard.get("/dashboard/webhooks")
    mine = dashboard.get(f"/dashboard/webhooks/{endpoint['id']}")

    [row] = listing.all("tr", data_testid="endpoint-row")
    assert row.attrs["data-endpoint-id"] == endpoint["id"]
    assert " ".join(row.text.split()).startswith(f"{HOOK} run.failed, run.canceled Enabled")
    assert mine.text("endpoint-url") == HOOK
    assert mine.text("endpoint-state") == "Enabled"
    assert "No deliveries yet" in mine.text("deliveries-table")
    for shown in (listing, mine):
        assert secret.removeprefix("whsec_") not in shown.html


@pytest.mark.parametrize(
    ("url", "events", "message"),
    [
        ("", ALL_EVENTS, "url is required"),
        ("ftp://hooks.label.example/x", ALL_EVENTS, "url must be an http or https URL with a host"),
        ("https://user:pw@hooks.label.example/", ALL_EVENTS, "url must not carry credentials"),
        ("https://hooks.label.example/a b", ALL_EVENTS, "url must not contain spaces"),
        (HOOK, {}, "subscribe to at least one event"),
        ("http://127.0.0.1:8080/hook", ALL_EVENTS, "127.0.0.1 is a loopback address"),
        ("http://localhost/hook", ALL_EVENTS, "localhost is a loopback name"),
        ("http://10.1.2.3/hook", ALL_EVENTS, "10.1.2.3 is a private address"),
        ("http://[::ffff:169.254.169.254]/", ALL_EVENTS, "is a link-local address"),
    ],
)
def test_a_refused_endpoint_is_shown_in_the_form(
    client: TestClient, alice: Tenant, url: str, events: dict[str, str], message: str
) -> None:
    dashboard = signed_in(client, alice)
    dashboard.get("/dashboard/webhooks")

    response = dashboard.post("/dashboard/webhooks", {"url": url, "event_run_failed": "", **events})

    page = Page(response)
    assert page.status == 400, page.html
    assert message in page.text("form-error")
    assert page.testid("form-error").attrs["role"] == "alert"
    url_input = page.one("input", id="webhook-url")
    assert url_input.attrs["value"] == url  # kept as typed
    described = page.testid("webhook-events") if events == {} else url_input
    assert "form-error" in (described.attrs.get("aria-describedby") or "")
    assert (url_input.attrs.get("aria-invalid") == "true") == (events != {})
    checked = {n.attrs["name"] for n in page.all("input", type="checkbox") if "checked" in n.attrs}
    assert checked == {name for name in ALL_EVENTS if events.get(name)}
    assert api_endpoints(client, alice) == []


def test_a_private_address_is_accepted_when_the_server_allows_it(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    allow_private(backbeat)
    dashboard = signed_in(client, alice)

    endpoint_id, secret = added(dashboard, "http://127.0.0.1:8080/hook")

    assert secret.startswith("whsec_")
    assert [e["id"] for e in api_endpoints(client, alice)] == [endpoint_id]
    hint = dashboard.get("/dashboard/webhooks").text("webhook-form")
    assert "does not send webhooks to private" not in hint


def test_hostile_urls_are_escaped(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    hostile = 'https://hooks.label.example/?q="><script>alert(1)</script>'

    endpoint_id, _ = added(dashboard, hostile)

    for path in ("/dashboard/webhooks", f"/dashboard/webhooks/{endpoint_id}"):
        page = dashboard.get(path)
        assert "<script>alert(1)" not in page.html
        assert hostile in page.text("endpoints-table" if path.endswith("hooks") else "endpoint-url")


def test_the_forms_need_their_csrf_token(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, _ = added(dashboard)

    for path in (
        "/dashboard/webhooks",
        f"/dashboard/webhooks/{endpoint_id}/rotate",
        f"/dashboard/webhooks/{endpoint_id}/remove",
        f"/dashboard/webhooks/{endpoint_id}/enable",
    ):
        response = dashboard.post(path, {"csrf_token": "forged", "url": HOOK})
        assert response.status_code == 403, path
    assert len(api_endpoints(client, alice)) == 1


# --- Rotate, enable, remove ------------------------------------------------------------------


def test_rotating_shows_the_new_secret_once_and_the_overlap(
    client: TestClient, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, first = added(dashboard)
    page = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")
    assert page.one("input", name="overlap_hours").attrs["value"] == "24"
    assert page.label_for("rotate-overlap_hours") == "Overlap, in hours"

    rotated = Page(
        dashboard.post(f"/dashboard/webhooks/{endpoint_id}/rotate", {"overlap_hours": "2"})
    )

    assert rotated.status == 200
    assert rotated.title == "New signing secret"
    second = rotated.testid("webhook-secret").text
    assert second.startswith("whsec_")
    assert second != first
    assert SHOWN_ONCE in rotated.text("secret-warning")
    until = clock.now() + timedelta(hours=2)
    assert rotated.text("overlap").startswith(
        f"The previous secret keeps signing too until {until:%a %Y-%m-%d %H:%M} UTC"
    )
    after = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")
    assert after.text("previous-secret") == f"Signs too until {until:%a %Y-%m-%d %H:%M} UTC"
    assert second not in after.html

    at_once = Page(
        dashboard.post(f"/dashboard/webhooks/{endpoint_id}/rotate", {"overlap_hours": "0"})
    )
    assert at_once.text("overlap") == "The previous secret no longer signs anything."
    assert not dashboard.get(f"/dashboard/webhooks/{endpoint_id}").all(
        data_testid="previous-secret"
    )


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("200", "overlap_hours must be between 0 and 168"),
        ("-1", "overlap_hours must be between 0 and 168"),
        ("soon", "overlap_hours must be a number of hours between 0 and 168"),
        ("inf", "overlap_hours must be a number of hours between 0 and 168"),
    ],
)
def test_a_refused_overlap_is_shown_in_the_rotate_form(
    client: TestClient, alice: Tenant, typed: str, message: str
) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, _ = added(dashboard)
    dashboard.get(f"/dashboard/webhooks/{endpoint_id}")

    page = Page(
        dashboard.post(f"/dashboard/webhooks/{endpoint_id}/rotate", {"overlap_hours": typed})
    )

    assert page.status == 400
    assert page.text("rotate-error") == message
    field = page.one("input", name="overlap_hours")
    assert field.attrs["value"] == typed
    assert field.attrs["aria-invalid"] == "true"
    assert "whsec_" not in page.html
    [endpoint] = api_endpoints(client, alice)
    assert endpoint["previous_secret_valid_until"] is None  # not rotated


def test_a_disabled_endpoint_says_why_and_can_be_enabled(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, _ = added(dashboard)
    with backbeat.uow(write=True) as uow:
        endpoint = uow.webhooks.get(endpoint_id, for_update=True)
        assert endpoint is not None
        since = clock.now() - timedelta(days=3)
        uow.webhooks.save(
            replace(
                endpoint,
                failing_since=since,
                disabled_at=clock.now(),
                disabled_reason="every delivery failed for 3 days",
            )
        )
        uow.commit()

    page = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")

    assert page.text("endpoint-state") == (
        f"Disabled since {clock.now():%a %Y-%m-%d %H:%M} UTC: every delivery failed for 3 days."
    )
    assert "Disabled" in dashboard.get("/dashboard/webhooks").text("endpoint-state")
    enabled = dashboard.submit(f"/dashboard/webhooks/{endpoint_id}/enable")
    assert enabled.text("notice") == "Endpoint enabled: it receives events again."
    assert enabled.text("endpoint-state") == "Enabled"
    assert not enabled.all(data_testid="enable-webhook")
    assert api_endpoints(client, alice)[0]["enabled"] is True


def test_removing_asks_first(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, _ = added(dashboard)
    page = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")
    assert (
        page.testid("remove-webhook").attrs["href"] == f"/dashboard/webhooks/{endpoint_id}/remove"
    )

    confirm = dashboard.get(f"/dashboard/webhooks/{endpoint_id}/remove")

    assert confirm.title == "Remove this endpoint?"
    assert confirm.text("remove-url") == HOOK
    assert confirm.testid("keep-webhook").attrs["href"] == f"/dashboard/webhooks/{endpoint_id}"
    assert len(api_endpoints(client, alice)) == 1  # asking removed nothing
    removed = dashboard.submit(f"/dashboard/webhooks/{endpoint_id}/remove")
    assert removed.text("notice") == "Endpoint removed: it receives nothing from now on."
    assert "No endpoints yet" in removed.text("endpoints-table")
    assert api_endpoints(client, alice) == []
    assert dashboard.get(f"/dashboard/webhooks/{endpoint_id}").status == 404


# --- Another account's endpoints -------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "action"),
    [
        ("GET", ""),
        ("GET", "/remove"),
        ("POST", "/remove"),
        ("POST", "/rotate"),
        ("POST", "/enable"),
    ],
)
def test_another_accounts_endpoint_is_not_found(
    client: TestClient, alice: Tenant, bob: Tenant, method: str, action: str
) -> None:
    endpoint_id, _ = added(signed_in(client, bob), "https://bob.example/hook")
    dashboard = signed_in(TestClient(client.app, raise_server_exceptions=False), alice)

    path = f"/dashboard/webhooks/{endpoint_id}{action}"
    response = dashboard.raw_get(path) if method == "GET" else dashboard.post(path)

    page = Page(response)
    assert page.status == 404
    assert page.text("problem-message") == "There is no such webhook endpoint in this account."
    assert "bob.example" not in page.html
    assert "bob.example" not in dashboard.get("/dashboard/webhooks").html
    [bobs] = api_endpoints(client, bob)
    assert bobs["previous_secret_valid_until"] is None


def test_acting_for_a_teammate_manages_their_endpoints(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    carol = make_tenant(backbeat, "carol@example.com")
    label = backbeat.admin.create_organization("Label")
    backbeat.admin.add_member(label.id, alice.account_id)
    backbeat.admin.add_member(label.id, carol.account_id)
    dashboard = signed_in(client, alice)
    own_id, _ = added(dashboard, "https://alice.example/hook")

    dashboard.post("/dashboard/account", {"account": str(carol.account_id)})
    carols_id, _ = added(dashboard, "https://carol.example/hook")

    assert [e["id"] for e in api_endpoints(client, carol)] == [carols_id]
    assert [e["id"] for e in api_endpoints(client, alice)] == [own_id]
    listing = dashboard.get("/dashboard/webhooks")
    assert [r.attrs["data-endpoint-id"] for r in listing.all("tr", data_testid="endpoint-row")] == [
        carols_id
    ]
    assert dashboard.get(f"/dashboard/webhooks/{own_id}").status == 404  # not the one acted for


# --- The delivery log ------------------------------------------------------------------------


def test_the_log_shows_each_try_and_a_resend_reaches_the_receiver_again(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock, receiver: Receiver
) -> None:
    allow_private(backbeat)
    dashboard = signed_in(client, alice)
    endpoint_id, secret = added(dashboard, receiver.url)
    receiver.secrets.append(secret)  # the secret as the page showed it
    receiver.fail_next = 1
    h = make_harness(backbeat, clock, ScriptedProvider())
    h.provider.script(reply("Synthpop is up 12%."))
    queued = h.run_now(alice, h.new_task(alice))
    assert run(h.work()) == 1
    assert h.get(queued.id).status is RunStatus.COMPLETED
    run(h.outbox.step())  # the first try (unless the worker made it): 500
    first_try = clock.now()
    clock.advance(seconds=5)
    run(h.outbox.step())  # 5 s later: 204
    assert [r.answered for r in receiver.requests] == [500, 204]

    page = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")

    [row] = page.all("tr", data_testid="delivery-row")
    assert row.attrs["data-delivery-id"] == receiver.requests[0].webhook_id
    assert row.attrs["data-status"] == "sent"
    text = " ".join(row.text.split())
    assert text.startswith("run.completed")
    assert queued.id in text
    tries = [node for node in row.walk() if node.attrs.get("data-testid") == "delivery-try"]
    assert [node.attrs["data-status-code"] for node in tries] == ["500", "204"]
    assert [" ".join(node.text.split()) for node in tries] == [
        f"{first_try:%a %Y-%m-%d %H:%M:%S} UTC: HTTP 500, not accepted",
        f"{first_try + timedelta(seconds=5):%a %Y-%m-%d %H:%M:%S} UTC: HTTP 204, accepted",
    ]
    [run_link] = [n for n in row.walk() if n.tag == "a"]
    assert run_link.attrs["href"] == f"/dashboard/runs/{queued.id}"
    resend = f"/dashboard/webhooks/{endpoint_id}/deliveries/{row.attrs['data-delivery-id']}/resend"
    [form] = [n for n in row.walk() if n.tag == "form"]
    assert form.attrs["action"] == resend

    again = dashboard.submit(resend)

    assert again.text("notice") == "Delivery queued to be sent again, under the same webhook-id."
    [row] = again.all("tr", data_testid="delivery-row")
    assert row.attrs["data-status"] == "pending"
    assert not [n for n in row.walk() if n.attrs.get("data-testid") == "resend-delivery"]
    refused = Page(dashboard.post(resend))  # a stale page's button: still being sent
    assert refused.status == 409
    assert refused.text("action-error") == "the delivery is pending: it is still being sent"
    run(h.outbox.step())
    assert len(receiver.requests) == 3
    assert receiver.requests[2].verified
    assert receiver.requests[2].webhook_id == receiver.requests[0].webhook_id
    after = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")
    [row] = after.all("tr", data_testid="delivery-row")
    codes = [n.attrs.get("data-status-code") for n in row.walk() if n.tag == "li"]
    assert codes == ["500", "204", "204"]


def test_the_log_pages_back_to_older_deliveries(
    client: TestClient,
    backbeat: Backbeat,
    alice: Tenant,
    clock: FakeClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(webhook_pages, "LOG_PAGE", 1)
    allow_private(backbeat)
    dashboard = signed_in(client, alice)
    endpoint_id, secret = added(dashboard, receiver.url)
    receiver.secrets.append(secret)
    h = make_harness(backbeat, clock, ScriptedProvider())
    task_id = h.new_task(alice)
    runs = []
    for text in ("First report.", "Second report."):
        h.provider.script(reply(text))
        runs.append(h.run_now(alice, task_id).id)
        assert run(h.work()) == 1
        clock.advance(seconds=1)
    run(h.outbox.step())
    assert len(receiver.accepted()) == 2

    newest = dashboard.get(f"/dashboard/webhooks/{endpoint_id}")
    older = dashboard.get(newest.testid("older-deliveries").attrs["href"] or "")

    [row] = newest.all("tr", data_testid="delivery-row")
    assert runs[1] in row.text
    assert not newest.all(data_testid="newest-deliveries")
    [row] = older.all("tr", data_testid="delivery-row")
    assert runs[0] in row.text
    assert older.testid("newest-deliveries").attrs["href"] == (
        f"/dashboard/webhooks/{endpoint_id}#deliveries"
    )
    assert not older.all(data_testid="older-deliveries")


def test_a_bad_page_of_the_log_is_said_and_the_newest_shown(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, _ = added(dashboard)

    page = dashboard.get(f"/dashboard/webhooks/{endpoint_id}", before="nonsense")

    assert page.status == 200
    assert "before must be a delivery id (delivery_…)" in page.html
    assert "No deliveries yet" in page.text("deliveries-table")


def test_an_unknown_delivery_cannot_be_resent(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    endpoint_id, _ = added(dashboard)

    response = dashboard.post(f"/dashboard/webhooks/{endpoint_id}/deliveries/delivery_0nope/resend")

    assert response.status_code == 404
    assert Page(response).text("problem-message") == (
        "There is no such webhook delivery in this account."
    )
