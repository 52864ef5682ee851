"""/api/webhooks/{id}/rotate and /enable (an extension): a new signing secret shown once,
the previous one's overlap, and an endpoint disabled for failing, enabled again."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.domain.webhooks import SECRET_PREFIX
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error
from tests.api.test_webhooks import add_endpoint, endpoints
from tests.conftest import Tenant


def test_rotation_issues_a_new_secret_the_list_never_shows(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    created = add_endpoint(client, alice)
    backbeat.clock.advance(hours=1)  # type: ignore[attr-defined]

    response = client.post(f"/api/webhooks/{created['id']}/rotate", headers=alice.headers)

    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated == {
        "status": "success",
        "id": created["id"],
        "secret": rotated["secret"],
        "previous_secret_valid_until": "2026-01-06T13:00:00.000Z",  # 24 h from now
    }
    assert rotated["secret"].startswith(SECRET_PREFIX)
    assert rotated["secret"] != created["secret"]
    [listed] = endpoints(client, alice)
    assert listed["previous_secret_valid_until"] == "2026-01-06T13:00:00.000Z"
    assert listed["updated_at"] == "2026-01-05T13:00:00.000Z"
    text = client.get("/api/webhooks", headers=alice.headers).text
    assert created["secret"] not in text
    assert rotated["secret"] not in text


@pytest.mark.parametrize(
    ("body", "until"),
    [
        ({"overlap_hours": 0}, None),
        ({"overlap_hours": 1.5}, "2026-01-05T13:30:00.000Z"),
        ({"overlap_hours": 168}, "2026-01-12T12:00:00.000Z"),
        ({}, "2026-01-06T12:00:00.000Z"),
    ],
)
def test_rotation_overlap(
    client: TestClient, alice: Tenant, body: dict[str, Any], until: str | None
) -> None:
    created = add_endpoint(client, alice)
    response = client.post(
        f"/api/webhooks/{created['id']}/rotate", json=body, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["previous_secret_valid_until"] == until


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"overlap_hours": -1}, "overlap_hours must be between 0 and 168"),
        ({"overlap_hours": 168.5}, "overlap_hours must be between 0 and 168"),
        ({"overlap_hours": "24"}, "Invalid input: expected number, received string"),
        ({"overlap_hours": True}, "Invalid input: expected number, received boolean"),
        ({"overlap_hours": None}, "Invalid input: expected number, received null"),
    ],
)
def test_invalid_rotations(
    client: TestClient, alice: Tenant, body: dict[str, Any], message: str
) -> None:
    created = add_endpoint(client, alice)
    response = client.post(
        f"/api/webhooks/{created['id']}/rotate", json=body, headers=alice.headers
    )
    assert_error(response, 400, message, ["overlap_hours"])
    unknown = client.post(
        f"/api/webhooks/{created['id']}/rotate", json={"hours": 1}, headers=alice.headers
    )
    assert_error(unknown, 400, 'Unrecognized key: "hours"', [])


def test_enabling_a_disabled_endpoint(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    created = add_endpoint(client, alice)
    now = backbeat.clock.now()
    with backbeat.uow(write=True) as uow:
        stored = uow.webhooks.get(created["id"])
        assert stored is not None
        uow.webhooks.save(
            replace(
                stored,
                failing_since=now - timedelta(days=3),
                disabled_at=now,
                disabled_reason="every delivery failed for 3 days",
            )
        )
        uow.commit()
    [disabled] = endpoints(client, alice)
    assert disabled["enabled"] is False
    assert disabled["disabled_at"] == "2026-01-05T12:00:00.000Z"
    assert disabled["disabled_reason"] == "every delivery failed for 3 days"
    assert disabled["failing_since"] == "2026-01-02T12:00:00.000Z"

    response = client.post(f"/api/webhooks/{created['id']}/enable", headers=alice.headers)

    assert response.status_code == 200, response.text
    enabled = response.json()
    assert enabled["status"] == "success"
    assert "secret" not in enabled
    assert (enabled["enabled"], enabled["disabled_at"], enabled["failing_since"]) == (
        True,
        None,
        None,
    )
    assert endpoints(client, alice)[0]["enabled"] is True
    refused = client.post(
        f"/api/webhooks/{created['id']}/enable", json={"now": True}, headers=alice.headers
    )
    assert_error(refused, 400, 'Unrecognized key: "now"', [])
