"""Signing in with an API key, the session cookie, and how a session ends."""

from __future__ import annotations

import logging
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.dashboard.session import COOKIE
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_backbeat
from tests.dashboard.helpers import Dashboard, Page, signed_in


def test_the_sign_in_form_is_at_the_root(client: TestClient) -> None:
    page = Dashboard(client).get("/")

    assert page.status == 200
    assert page.response.headers["content-type"].startswith("text/html")
    form = page.testid("sign-in-form")
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == "/dashboard/sign-in"
    assert page.label_for("key") == "API key"
    key_input = page.one("input", id="key")
    assert key_input.attrs["type"] == "password"
    assert key_input.attrs["name"] == "key"
    assert page.csrf


def test_signing_in_sets_a_signed_httponly_strict_expiring_cookie(
    client: TestClient, alice: Tenant
) -> None:
    response = Dashboard(client).sign_in(alice.key)

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/tasks"
    cookie = response.headers["set-cookie"]
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert cookie.startswith(f"{COOKIE}=")
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "max-age=28800" in attributes  # the default lifetime, 8 hours
    assert "path=/" in attributes
    assert "secure" not in attributes  # plain HTTP here, and the setting follows the scheme
    assert alice.key not in cookie
    assert alice.key[4:20] not in cookie


def test_the_session_shows_the_accounts_tasks(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    page = dashboard.get("/dashboard/tasks")

    assert page.status == 200
    assert page.text("signed-in-as") == "Signed in as alice@example.com"
    assert page.title == "Tasks"


def test_a_wrong_key_is_refused_without_echoing_it(client: TestClient, alice: Tenant) -> None:
    dashboard = Dashboard(client)

    for key in ("", "nonsense", "bbk_" + "A" * 43, "bbk_short", "bbk_" + "é" * 43):
        response = dashboard.sign_in(key)

        assert response.status_code == 401, key
        page = Page(response)
        assert page.text("form-error") == (
            "That API key was not accepted. Check it, or ask for a new one."
        )
        assert page.one("input", id="key").attrs.get("value") is None
        assert page.one("input", id="key").attrs["aria-invalid"] == "true"
        if key:
            assert key not in response.text
        assert dashboard.raw_get("/dashboard/tasks").status_code == 303


def test_pages_need_a_session(client: TestClient) -> None:
    for path in ("/dashboard/tasks", "/dashboard/tasks/new", "/dashboard/runs/run_x"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"] == "/?" + urlencode({"next": path})
    preview = client.get("/dashboard/schedule-preview", params={"schedule": "@daily"})
    assert preview.status_code == 401
    assert preview.json() == {"error": "Sign in with an API key to continue."}


def test_the_key_is_never_in_a_page_a_url_or_a_log(
    client: TestClient, alice: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    dashboard = Dashboard(client)
    dashboard.get("/")
    wrong = alice.key[:-1] + ("A" if alice.key[-1] != "A" else "B")
    refused = dashboard.post("/dashboard/sign-in", {"key": wrong})
    response = dashboard.post("/dashboard/sign-in", {"key": alice.key})
    pages = [refused, response]
    for path in ("/dashboard/tasks", "/dashboard/tasks/new", "/"):
        pages.append(client.get(path))

    for page in pages:
        assert alice.key not in page.text
        assert wrong not in page.text
        assert alice.key not in str(page.url)
        assert alice.key not in page.headers.get("location", "")
        assert alice.key not in page.headers.get("set-cookie", "")
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "dashboard.signed_in" in logged
    assert alice.key not in logged
    assert wrong not in logged


def test_signing_out_ends_the_session(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    old_cookie = client.cookies[COOKIE]

    response = dashboard.post("/dashboard/sign-out")

    assert response.status_code == 303
    assert response.headers["location"] == "/?done=signed-out"
    page = dashboard.get("/?done=signed-out")
    assert page.text("notice") == "You are signed out."
    assert dashboard.raw_get("/dashboard/tasks").status_code == 303
    # The browser gets a new, anonymous session (the old cookie's session ended on the
    # server: see test_server_sessions.py).
    assert client.cookies[COOKIE] != old_cookie


def test_a_session_expires_after_its_lifetime(
    client: TestClient, alice: Tenant, clock: FakeClock
) -> None:
    dashboard = signed_in(client, alice)
    clock.advance(hours=7, minutes=59)
    assert dashboard.raw_get("/dashboard/tasks").status_code == 200

    clock.advance(minutes=1)

    response = dashboard.raw_get("/dashboard/tasks")
    assert response.status_code == 303
    assert response.headers["location"] == "/?done=ended&next=%2Fdashboard%2Ftasks"
    page = dashboard.get(response.headers["location"])
    assert page.title == "Sign in to Backbeat"
    assert "Your session ended" in page.text("notice")
    # The dead session was replaced: no loop between "/" and the tasks page.
    assert dashboard.get("/dashboard/tasks").title == "Sign in to Backbeat"


def test_the_lifetime_and_secure_flag_are_settings(db_url: str, clock: FakeClock) -> None:
    app = make_backbeat(db_url, clock, dashboard_session_seconds=600, dashboard_cookie_secure=True)
    try:
        with TestClient(create_app(app)) as client:
            response = Dashboard(client).get("/").response
            attributes = [p.strip().lower() for p in response.headers["set-cookie"].split(";")]
            assert "max-age=600" in attributes
            assert "secure" in attributes
    finally:
        app.close()


def test_a_revoked_key_ends_the_session(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)

    backbeat.admin.revoke_key(alice.key_id(backbeat))

    response = dashboard.raw_get("/dashboard/tasks/new")
    assert response.status_code == 303
    assert response.headers["location"] == "/?done=ended&next=%2Fdashboard%2Ftasks%2Fnew"
    page = dashboard.get(response.headers["location"])
    assert page.title == "Sign in to Backbeat"
    assert "Your session ended" in page.text("notice")
    assert page.one("input", name="next").attrs["value"] == "/dashboard/tasks/new"
    assert dashboard.get("/dashboard/tasks").title == "Sign in to Backbeat"  # no loop
    refused = dashboard.post("/dashboard/tasks/new", {"title": "x"})
    assert refused.status_code == 303  # a form from the signed-out page: sign in first
    assert refused.headers["location"] == "/"
    # Signing in again with another key works, and goes where the person was going.
    issued = backbeat.admin.create_key(alice.account_id)
    again = dashboard.post(
        "/dashboard/sign-in", {"key": issued.secret_value, "next": "/dashboard/tasks"}
    )
    assert again.headers["location"] == "/dashboard/tasks"
    assert dashboard.get("/dashboard/tasks").title == "Tasks"


def test_an_expired_key_ends_the_session(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    issued = backbeat.admin.create_key(
        alice.account_id, expires_at=clock.now() + timedelta(hours=1)
    )
    dashboard = Dashboard(client)
    assert dashboard.sign_in(issued.secret_value).status_code == 303
    assert dashboard.raw_get("/dashboard/tasks").status_code == 200

    clock.advance(hours=1)

    page = dashboard.get("/dashboard/tasks")
    assert page.title == "Sign in to Backbeat"
    assert "Your session ended" in page.text("notice")


def test_a_tampered_cookie_is_no_session(client: TestClient, alice: Tenant) -> None:
    signed_in(client, alice)
    value = client.cookies[COOKIE]
    body, _, signature = value.rpartition(".")
    client.cookies.clear()
    client.cookies.set(COOKIE, body + "." + signature[::-1])

    response = client.get("/dashboard/tasks", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/?done=ended&next=%2Fdashboard%2Ftasks"
    assert Dashboard(client).get("/dashboard/tasks").title == "Sign in to Backbeat"


def test_the_root_sends_a_signed_in_person_to_their_tasks(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)

    response = dashboard.raw_get("/")

    assert response.status_code == 303
    assert response.headers["location"] == "/dashboard/tasks"


def test_sign_in_returns_to_a_dashboard_page_only(client: TestClient, alice: Tenant) -> None:
    dashboard = Dashboard(client)
    page = dashboard.get("/", next="/dashboard/runs/run_abc")
    assert page.one("input", name="next").attrs["value"] == "/dashboard/runs/run_abc"
    response = dashboard.post(
        "/dashboard/sign-in", {"key": alice.key, "next": "/dashboard/runs/run_abc"}
    )
    assert response.headers["location"] == "/dashboard/runs/run_abc"

    for elsewhere in ("https://evil.test/", "//evil.test/x", "/api/tasks", "/dashboard//evil"):
        other = Dashboard(TestClient(client.app))
        assert not other.get("/", next=elsewhere).all("input", name="next")
        response = other.post("/dashboard/sign-in", {"key": alice.key, "next": elsewhere})
        assert response.headers["location"] == "/dashboard/tasks", elsewhere
