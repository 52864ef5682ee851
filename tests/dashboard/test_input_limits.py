"""The dashboard takes the API's length caps and zone names, and its run-history cursor
never fails the page: the schedule preview, the task forms and the history paging."""

from __future__ import annotations

import base64
import time

import pytest
from starlette.testclient import TestClient

from backbeat.dashboard.schedule_preview import schedule_preview_of
from backbeat.domain import cron
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.dashboard.helpers import Page, create_task, signed_in

# 580 kB that cronsim accepts: as a form field (spaces encode to one byte each, "," to three)
# and, as long as a URL may be, in the preview's query string.
HUGE_SCHEDULE = "0 9 *  * 4" + " " * 580_000
LONG_PREVIEW = "0 9 * * 4" + " " * 50_000
FORM = {
    "title": "Fresh",
    "prompt": "Do it.",
    "schedule": "@weekly",
    "timezone": "UTC",
    "model": "",
}


def clear_cron_caches() -> None:
    cron._parse.cache_clear()
    cron._next_fire.cache_clear()
    cron._upcoming_cache._entries.clear()


def cron_cache_sizes() -> tuple[int, int, int]:
    return (
        cron._parse.cache_info().currsize,
        cron._next_fire.cache_info().currsize,
        len(cron._upcoming_cache._entries),
    )


def test_the_preview_refuses_a_580_kb_schedule_quickly_and_caches_nothing(
    backbeat: Backbeat,
) -> None:
    clear_cron_caches()

    # CPU time of this process, not the wall clock: other test processes share the machine.
    started = time.process_time()
    preview = schedule_preview_of(backbeat, HUGE_SCHEDULE, "UTC")
    seconds = time.process_time() - started

    assert (preview.error, preview.error_field) == (
        "schedule must be at most 256 characters",
        "schedule",
    )
    assert seconds < 0.1, seconds
    assert cron_cache_sizes() == (0, 0, 0)


def test_the_preview_endpoint_refuses_a_long_schedule_quickly_and_caches_nothing(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    clear_cron_caches()

    started = time.process_time()
    response = dashboard.raw_get("/dashboard/schedule-preview", schedule=LONG_PREVIEW)
    seconds = time.process_time() - started

    assert response.status_code == 200
    assert response.json() == {
        "ok": False,
        "error": "schedule must be at most 256 characters",
        "field": "schedule",
    }
    assert seconds < 1.0, seconds
    assert cron_cache_sizes() == (0, 0, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "t" * 201, "title must be at most 200 characters"),
        ("prompt", "p" * 20_001, "prompt must be at most 20,000 characters"),
        ("schedule", HUGE_SCHEDULE, "schedule must be at most 256 characters"),
        ("timezone", "Z" * 65, "timezone must be at most 64 characters"),
        ("model", "m" * 201, "model must be at most 200 characters"),
        ("timezone", "localtime", "timezone must be a valid IANA time zone"),
        ("timezone", "Factory", "timezone must be a valid IANA time zone"),
    ],
)
def test_the_task_forms_refuse_what_the_api_refuses(
    client: TestClient, alice: Tenant, field: str, value: str, message: str
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)
    dashboard.get("/dashboard/tasks/new")
    clear_cron_caches()
    body = {**FORM, "artist_account_id": str(alice.artist_id), field: value}

    created = dashboard.post("/dashboard/tasks/new", body)
    if field == "schedule":  # refused, and the new-task page shows no other schedule
        assert cron_cache_sizes() == (0, 0, 0)
    edited = dashboard.post(f"/dashboard/tasks/{task_id}", body)

    for response in (created, edited):
        assert response.status_code == 400, response.text[:500]
        assert Page(response).text("form-error") == message


def test_the_preview_refuses_host_dependent_zones(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)

    for zone in ("localtime", "posixrules", "Factory", "/etc/localtime"):
        response = dashboard.raw_get(
            "/dashboard/schedule-preview", schedule="@daily", timezone=zone
        )

        assert response.json() == {
            "ok": False,
            "error": "timezone must be a valid IANA time zone",
            "field": "timezone",
        }, zone


def encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        encoded(b"0001-01-01T00:00:00+14:00|run_a"),
        encoded(b"9999-12-31T23:59:59-14:00|run_a"),
        encoded(b"0000-01-01T00:00:00+00:00|run_a"),
        encoded(b"2026-01-05T12:00:00+00:00|run_\x00a"),
        encoded(b"2026-01-05T12:00:00+00:00|" + b"a" * 5_000),
        encoded(b"\xff\xfe|\xff"),
        "\x00",
        "!!",
    ],
    ids=["year 0 in UTC", "year 10000 in UTC", "year 0", "NUL", "huge id", "not UTF-8", "a NUL",
         "garbage"],
)  # fmt: skip
def test_a_forged_history_cursor_is_a_message_not_a_failure(
    client: TestClient, alice: Tenant, cursor: str
) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice)

    page = dashboard.get(f"/dashboard/tasks/{task_id}", cursor=cursor)

    assert page.status == 200, page.html[:500]
    assert "cursor is not a cursor this server gave out" in page.html
