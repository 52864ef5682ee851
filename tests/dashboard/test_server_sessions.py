"""Dashboard sessions live on the server too: signing out ends the session itself, so a
copied cookie stops working at once (not only in the browser that signed out)."""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import func, select
from starlette.testclient import TestClient

from backbeat.dashboard.session import COOKIE, SessionData, Sessions
from backbeat.store.tables import dashboard_sessions
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.dashboard.helpers import Dashboard, another_browser, signed_in


def replay(client: TestClient, cookie: str) -> TestClient:
    """A second browser holding a copy of the cookie."""
    thief = another_browser(client)
    thief.cookies.set(COOKIE, cookie)
    return thief


def session_rows(backbeat: Backbeat) -> int:
    with backbeat.engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(dashboard_sessions)).scalar_one()
        )


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    copied = client.cookies[COOKIE]
    assert replay(client, copied).get("/dashboard/tasks", follow_redirects=False).status_code == 200

    assert dashboard.post("/dashboard/sign-out").status_code == 303

    thief = replay(client, copied)
    response = thief.get("/dashboard/tasks", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/?" + urlencode(
        {"done": "ended", "next": "/dashboard/tasks"}
    )
    preview = replay(client, copied).get(
        "/dashboard/schedule-preview", params={"schedule": "@daily"}
    )
    assert preview.status_code == 401
    assert preview.json() == {"error": "Sign in with an API key to continue."}
    # Its forms are refused too: the form's session is gone.
    thief = replay(client, copied)
    page = Dashboard(thief)
    page.token = dashboard.token
    refused = page.post("/dashboard/tasks/new", {"title": "x"})
    assert refused.status_code in (303, 403)
    assert "/dashboard/tasks/" not in refused.headers.get("location", "")


def test_signing_out_ends_only_that_session(client: TestClient, alice: Tenant) -> None:
    first = signed_in(client, alice)
    second = signed_in(another_browser(client), alice)

    first.post("/dashboard/sign-out")

    assert second.raw_get("/dashboard/tasks").status_code == 200
    assert first.raw_get("/dashboard/tasks").status_code == 303


def test_signing_in_again_starts_a_new_session(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    dashboard.post("/dashboard/sign-out")

    assert dashboard.sign_in(alice.key).status_code == 303

    assert dashboard.raw_get("/dashboard/tasks").status_code == 200


def test_a_signed_cookie_without_a_server_session_is_no_session(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    """A cookie signed with the server secret (say, from before sessions were recorded) but
    naming no recorded session is refused, as an ended one is."""
    settings = backbeat.settings
    sessions = Sessions(
        settings.secret, settings.dashboard_session_seconds, settings.dashboard_cookie_secure
    )
    data: SessionData = sessions.signed_in(clock.now(), alice.key_id(backbeat), alice.account_id)
    forged = sessions.encode(data)

    response = replay(client, forged).get("/dashboard/tasks", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/?done=ended")


def test_expired_sessions_are_cleaned_up_at_the_next_sign_in(
    client: TestClient, backbeat: Backbeat, alice: Tenant, clock: FakeClock
) -> None:
    signed_in(client, alice)
    signed_in(another_browser(client), alice)
    assert session_rows(backbeat) == 2

    clock.advance(seconds=backbeat.settings.dashboard_session_seconds + 1)
    signed_in(another_browser(client), alice)

    assert session_rows(backbeat) == 1
