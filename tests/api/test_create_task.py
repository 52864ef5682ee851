"""POST /api/tasks."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks, task_body
from tests.conftest import Tenant, make_tenant

TASK_FIELDS = {
    "id",
    "title",
    "prompt",
    "schedule",
    "account_id",
    "artist_account_id",
    "enabled",
    "trigger_schedule_id",
    "recent_runs",
    "upcoming",
    "owner_email",
    "model",
    "timezone",
}


def test_creates_a_task_with_every_field_of_the_contract(client: TestClient, alice: Tenant) -> None:
    response = client.post("/api/tasks", json=task_body(alice), headers=alice.headers)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    [task] = body["tasks"]
    assert set(task) >= TASK_FIELDS
    assert task["title"] == "Weekly Genre Pulse Check"
    assert task["schedule"] == "0 9 * * 4"
    assert task["account_id"] == str(alice.account_id)
    assert task["artist_account_id"] == str(alice.artist_id)
    assert task["enabled"] is True
    assert task["model"] is None
    assert task["timezone"] == "UTC"
    assert task["owner_email"] == "alice@example.com"
    assert task["recent_runs"] == []
    # The fake clock reads Monday 2026-01-05 12:00 UTC: the next five Thursdays at 09:00.
    assert task["upcoming"] == [
        "2026-01-08T09:00:00.000Z",
        "2026-01-15T09:00:00.000Z",
        "2026-01-22T09:00:00.000Z",
        "2026-01-29T09:00:00.000Z",
        "2026-02-05T09:00:00.000Z",
    ]
    assert list_tasks(client, alice) == [task]


def test_upcoming_follows_the_task_time_zone(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, timezone="America/New_York", schedule="30 8 * * *")

    assert task["timezone"] == "America/New_York"
    # 12:00 UTC is 07:00 in New York: 08:30 local is still ahead today.
    assert task["upcoming"][:2] == ["2026-01-05T13:30:00.000Z", "2026-01-06T13:30:00.000Z"]


def test_model_and_macros(client: TestClient, alice: Tenant) -> None:
    task = create_task(client, alice, model="anthropic/claude-sonnet-4.5", schedule="@daily")

    assert task["model"] == "anthropic/claude-sonnet-4.5"
    assert task["upcoming"][0] == "2026-01-06T00:00:00.000Z"


def _post(client: TestClient, tenant: Tenant, body: Any) -> Any:
    return client.post("/api/tasks", json=body, headers=tenant.headers)


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"title": ...}, "title", "Invalid input: expected string, received undefined"),
        ({"prompt": ...}, "prompt", "Invalid input: expected string, received undefined"),
        ({"title": ""}, "title", "title parameter is required"),
        ({"prompt": ""}, "prompt", "prompt parameter is required"),
        ({"schedule": ""}, "schedule", "schedule parameter is required"),
        ({"artist_account_id": ""}, "artist_account_id", "artist_account_id parameter is required"),
        ({"title": 5}, "title", "Invalid input: expected string, received number"),
        ({"title": None}, "title", "Invalid input: expected string, received null"),
        ({"title": True}, "title", "Invalid input: expected string, received boolean"),
        ({"prompt": ["a"]}, "prompt", "Invalid input: expected string, received array"),
        (
            {"artist_account_id": "nope"},
            "artist_account_id",
            "artist_account_id must be a valid UUID",
        ),
        ({"account_id": "nope"}, "account_id", "account_id must be a valid UUID"),
        ({"model": ""}, "model", "model must be a non-empty string"),
        ({"timezone": "Mars/Olympus"}, "timezone", "timezone must be a valid IANA time zone"),
        ({"timezone": ""}, "timezone", "timezone must be a valid IANA time zone"),
        ({"title": "a\x00b"}, "title", "title must not contain NUL characters"),
    ],
)
def test_field_errors_name_the_first_failing_field(
    client: TestClient, alice: Tenant, overrides: dict[str, Any], field: str, message: str
) -> None:
    assert_error(_post(client, alice, task_body(alice, **overrides)), 400, message, [field])


def test_empty_object_reports_title_first(client: TestClient, alice: Tenant) -> None:
    assert_error(
        _post(client, alice, {}),
        400,
        "Invalid input: expected string, received undefined",
        ["title"],
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ([], "Invalid input: expected object, received array"),
        (None, "Invalid input: expected object, received null"),
        ("text", "Invalid input: expected object, received string"),
        (7, "Invalid input: expected object, received number"),
    ],
)
def test_a_body_that_is_not_an_object(
    client: TestClient, alice: Tenant, body: Any, message: str
) -> None:
    response = client.post("/api/tasks", content=json.dumps(body), headers=alice.headers)
    assert_error(response, 400, message, [])


def test_unknown_keys_are_refused_after_the_fields(client: TestClient, alice: Tenant) -> None:
    assert_error(_post(client, alice, task_body(alice, foo=1)), 400, 'Unrecognized key: "foo"', [])
    assert_error(
        _post(client, alice, task_body(alice, foo=1, bar=2)),
        400,
        'Unrecognized keys: "foo", "bar"',
        [],
    )
    # A failing declared field is reported before the unknown key, as Zod does.
    assert_error(
        _post(client, alice, {"foo": 1, "title": ""}), 400, "title parameter is required", ["title"]
    )


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"garbage", b'{"title": }'])
def test_a_body_that_is_not_json(client: TestClient, alice: Tenant, raw: bytes) -> None:
    response = client.post("/api/tasks", content=raw, headers=alice.headers)
    assert_error(response, 400, "Invalid JSON body")


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("61 * * * *", 'schedule has an invalid minute field "61" in "61 * * * *"'),
        ("* 24 * * *", 'schedule has an invalid hour field "24" in "* 24 * * *"'),
        (
            "0 9 * * FUNDAY",
            'schedule has an invalid day-of-week field "FUNDAY" in "0 9 * * FUNDAY"',
        ),
        (
            "0 9 * *",
            "schedule must have 5 fields (minute hour day-of-month month day-of-week), "
            'got 4 in "0 9 * *"',
        ),
        (
            "0 0 9 * * *",
            "schedule must have 5 fields (minute hour day-of-month month day-of-week), "
            'got 6 in "0 0 9 * * *"',
        ),
        (
            "0 0 31 2 *",
            'schedule "0 0 31 2 *" never fires: day-of-month 31 does not occur in month 2',
        ),
        (
            "0 0 30 2 *",
            'schedule "0 0 30 2 *" never fires: day-of-month 30 does not occur in month 2',
        ),
        (
            "@reboot",
            'schedule uses an unknown macro "@reboot" (known: @annually, @daily, @hourly, '
            "@midnight, @monthly, @weekly, @yearly)",
        ),
        ("   ", "schedule must be a cron expression, got an empty string"),
    ],
)
def test_an_unusable_cron_is_a_400_saying_why(
    client: TestClient, alice: Tenant, schedule: str, message: str
) -> None:
    assert_error(
        _post(client, alice, task_body(alice, schedule=schedule)), 400, message, ["schedule"]
    )


def test_a_failed_request_changes_nothing(client: TestClient, alice: Tenant) -> None:
    _post(client, alice, task_body(alice, schedule="0 0 31 2 *"))
    _post(client, alice, task_body(alice, artist_account_id="00000000-0000-4000-8000-000000000000"))

    assert list_tasks(client, alice) == []


class TestTenancy:
    def test_another_accounts_artist_is_forbidden(
        self, client: TestClient, alice: Tenant, bob: Tenant
    ) -> None:
        response = _post(client, alice, task_body(alice, artist_account_id=str(bob.artist_id)))
        assert_error(response, 403, "Access denied to specified artist_account_id")

    def test_an_unknown_artist_is_forbidden(self, client: TestClient, alice: Tenant) -> None:
        body = task_body(alice, artist_account_id="6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f")
        assert_error(
            _post(client, alice, body), 403, "Access denied to specified artist_account_id"
        )

    def test_an_artist_of_the_accounts_organization_is_usable(
        self, client: TestClient, backbeat: Backbeat, alice: Tenant
    ) -> None:
        org = backbeat.admin.create_organization("Label")
        backbeat.admin.add_member(org.id, alice.account_id)
        shared = backbeat.admin.create_artist("Label artist", organization_id=org.id)

        task = create_task(client, alice, artist_account_id=str(shared.id))

        assert task["artist_account_id"] == str(shared.id)

    def test_account_id_of_a_stranger_is_forbidden(
        self, client: TestClient, alice: Tenant, bob: Tenant
    ) -> None:
        body = task_body(alice, account_id=str(bob.account_id))
        assert_error(_post(client, alice, body), 403, "Access denied to specified account_id")

    def test_account_id_of_an_unknown_account_is_forbidden(
        self, client: TestClient, alice: Tenant
    ) -> None:
        body = task_body(alice, account_id="6f1c2b7e-1d2a-4c3b-9e8f-0a1b2c3d4e5f")
        assert_error(_post(client, alice, body), 403, "Access denied to specified account_id")

    def test_account_id_of_yourself_is_fine(self, client: TestClient, alice: Tenant) -> None:
        task = create_task(client, alice, account_id=str(alice.account_id))
        assert task["account_id"] == str(alice.account_id)

    def test_an_organization_mate_can_create_for_you_with_your_artist(
        self, client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
    ) -> None:
        org = backbeat.admin.create_organization("Label")
        backbeat.admin.add_member(org.id, alice.account_id)
        backbeat.admin.add_member(org.id, bob.account_id)

        body = task_body(
            alice, account_id=str(bob.account_id), artist_account_id=str(bob.artist_id)
        )
        response = _post(client, alice, body)

        assert response.status_code == 200
        [task] = response.json()["tasks"]
        assert task["account_id"] == str(bob.account_id)
        assert task["owner_email"] == "bob@example.com"
        assert list_tasks(client, bob)[0]["id"] == task["id"]

    def test_the_artist_must_be_usable_by_the_resolved_account(
        self, client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
    ) -> None:
        org = backbeat.admin.create_organization("Label")
        backbeat.admin.add_member(org.id, alice.account_id)
        backbeat.admin.add_member(org.id, bob.account_id)

        # Alice acts for Bob but names her own artist: Bob may not use it.
        body = task_body(alice, account_id=str(bob.account_id))
        assert_error(
            _post(client, alice, body), 403, "Access denied to specified artist_account_id"
        )

    def test_an_admin_organization_member_may_act_for_anyone(
        self, client: TestClient, backbeat: Backbeat, bob: Tenant
    ) -> None:
        operator = make_tenant(backbeat, "ops@backbeat.example")
        admins = backbeat.admin.create_organization("Operators", is_admin=True)
        backbeat.admin.add_member(admins.id, operator.account_id)

        body = task_body(bob, account_id=str(bob.account_id))
        response = client.post("/api/tasks", json=body, headers=operator.headers)

        assert response.status_code == 200
        assert response.json()["tasks"][0]["account_id"] == str(bob.account_id)
