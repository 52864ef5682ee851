"""/api/webhooks/{id}/deliveries and /api/webhooks/deliveries/{id}/resend (an extension): an
endpoint's log of events with their tries, paging, resending; and signing secrets, which
never reach the logs."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    DeliveryTry,
    Purpose,
    SendOutcome,
)
from backbeat.domain.ids import new_delivery_id
from backbeat.domain.runs import RunStatus
from backbeat.ops.logs import JsonFormatter
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task
from tests.api.test_runs_endpoint import add_run
from tests.api.test_webhooks import add_endpoint
from tests.conftest import Tenant


def add_event(
    backbeat: Backbeat,
    run_id: str,
    endpoint_id: str,
    status: DeliveryStatus = DeliveryStatus.PENDING,
    *,
    event: str = "run.completed",
    tries: Sequence[tuple[SendOutcome, str]] = (),
    channel: Channel = Channel.WEBHOOK,
) -> Delivery:
    """A delivery of a run's event to an endpoint, as RunEvents writes it, and its tries."""
    now = backbeat.clock.now()
    delivery = Delivery(
        id=new_delivery_id(),
        run_id=run_id,
        channel=channel,
        recipient=endpoint_id,
        address="https://hooks.example.com/backbeat",
        subject=event,
        body='{"type": "run.completed"}',
        status=status,
        created_at=now,
        updated_at=now,
        tries=len(tries),
        error="HTTP 503" if status is DeliveryStatus.FAILED else None,
        sent_at=now if status is DeliveryStatus.SENT else None,
        purpose=Purpose.EVENT,
    )
    with backbeat.uow(write=True) as uow:
        uow.deliveries.add(delivery)
        for number, (outcome, detail) in enumerate(tries, start=1):
            at = now + timedelta(minutes=number)
            uow.deliveries.record_try(delivery.id, DeliveryTry(number, at, outcome, detail))
        uow.commit()
    return delivery


@pytest.fixture
def task(client: TestClient, alice: Tenant) -> dict[str, Any]:
    return create_task(client, alice)


@pytest.fixture
def run_id(backbeat: Backbeat, task: dict[str, Any]) -> str:
    return add_run(backbeat, task, 0, RunStatus.COMPLETED).id


def another_run(backbeat: Backbeat, task: dict[str, Any], minutes: int) -> str:
    """A run of its own for each event: a run raises one event per endpoint."""
    return add_run(backbeat, task, minutes, RunStatus.COMPLETED).id


def log_of(client: TestClient, tenant: Tenant, endpoint_id: str, **params: Any) -> Any:
    response = client.get(
        f"/api/webhooks/{endpoint_id}/deliveries", params=params, headers=tenant.headers
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_the_log_shows_each_event_with_its_tries(
    client: TestClient, backbeat: Backbeat, alice: Tenant, run_id: str, task: dict[str, Any]
) -> None:
    endpoint = add_endpoint(client, alice)["id"]
    failed = add_event(
        backbeat,
        run_id,
        endpoint,
        DeliveryStatus.FAILED,
        event="run.failed",
        tries=[(SendOutcome.TEMPORARY, "HTTP 503"), (SendOutcome.TEMPORARY, "HTTP 503")],
    )
    later = another_run(backbeat, task, 1)
    sent = add_event(
        backbeat, later, endpoint, DeliveryStatus.SENT, tries=[(SendOutcome.ACCEPTED, "HTTP 204")]
    )

    body = log_of(client, alice, endpoint)

    assert body["status"] == "success"
    assert body["next_before"] is None
    newest_first = sorted([failed.id, sent.id], reverse=True)
    assert [each["id"] for each in body["deliveries"]] == newest_first
    by_id = {each["id"]: each for each in body["deliveries"]}
    assert by_id[failed.id] == {
        "id": failed.id,
        "endpoint_id": endpoint,
        "event": "run.failed",
        "run_id": run_id,
        "status": "failed",
        "created_at": "2026-01-05T12:00:00.000Z",
        "sent_at": None,
        "next_try_at": None,
        "error": "HTTP 503",
        "tries": [
            {
                "number": 1,
                "at": "2026-01-05T12:01:00.000Z",
                "outcome": "temporary",
                "detail": "HTTP 503",
            },
            {
                "number": 2,
                "at": "2026-01-05T12:02:00.000Z",
                "outcome": "temporary",
                "detail": "HTTP 503",
            },
        ],
    }
    assert by_id[sent.id]["status"] == "sent"
    assert by_id[sent.id]["sent_at"] == "2026-01-05T12:00:00.000Z"
    assert [each["outcome"] for each in by_id[sent.id]["tries"]] == ["accepted"]


def test_the_log_pages_with_before(
    client: TestClient, backbeat: Backbeat, alice: Tenant, task: dict[str, Any]
) -> None:
    endpoint = add_endpoint(client, alice)["id"]
    runs = [another_run(backbeat, task, minutes) for minutes in range(3)]
    ids = sorted(
        (add_event(backbeat, run, endpoint, DeliveryStatus.SENT).id for run in runs),
        reverse=True,
    )

    first = log_of(client, alice, endpoint, limit="2")
    assert [each["id"] for each in first["deliveries"]] == ids[:2]
    assert first["next_before"] == ids[1]
    rest = log_of(client, alice, endpoint, limit="2", before=first["next_before"])
    assert [each["id"] for each in rest["deliveries"]] == ids[2:]
    assert rest["next_before"] is None


@pytest.mark.parametrize(
    ("params", "message", "fields"),
    [
        ({"limit": "0"}, "Too small: expected number to be >=1", ["limit"]),
        ({"limit": "101"}, "Too big: expected number to be <=100", ["limit"]),
        ({"limit": "ten"}, "Invalid input: expected number, received NaN", ["limit"]),
        ({"before": "run_1"}, "before must be a delivery id (delivery_…)", ["before"]),
        ({"before": "delivery_\x00"}, "before must be a delivery id (delivery_…)", ["before"]),
        ({"cursor": "x"}, 'Unrecognized key: "cursor"', []),
    ],
)
def test_bad_log_queries(
    client: TestClient, alice: Tenant, params: dict[str, str], message: str, fields: list[str]
) -> None:
    endpoint = add_endpoint(client, alice)["id"]
    response = client.get(
        f"/api/webhooks/{endpoint}/deliveries", params=params, headers=alice.headers
    )
    assert_error(response, 400, message, fields)


def test_resending_a_finished_delivery_queues_it_again(
    client: TestClient, backbeat: Backbeat, alice: Tenant, run_id: str
) -> None:
    endpoint = add_endpoint(client, alice)["id"]
    failed = add_event(
        backbeat, run_id, endpoint, DeliveryStatus.FAILED, tries=[(SendOutcome.TEMPORARY, "x")]
    )
    backbeat.clock.advance(minutes=5)  # type: ignore[attr-defined]

    response = client.post(f"/api/webhooks/deliveries/{failed.id}/resend", headers=alice.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "success",
        "delivery": {
            "id": failed.id,
            "endpoint_id": endpoint,
            "event": "run.completed",
            "run_id": run_id,
            "status": "pending",
            "created_at": "2026-01-05T12:00:00.000Z",
            "sent_at": None,
            "next_try_at": "2026-01-05T12:05:00.000Z",
            "error": None,
        },
    }
    [logged] = log_of(client, alice, endpoint)["deliveries"]
    assert logged["status"] == "pending"
    assert len(logged["tries"]) == 1  # the earlier try stays in the log
    again = client.post(f"/api/webhooks/deliveries/{failed.id}/resend", headers=alice.headers)
    assert_error(again, 409, "the delivery is pending: it is still being sent")


@pytest.mark.parametrize("status", [DeliveryStatus.PENDING, DeliveryStatus.SENDING])
def test_a_delivery_still_being_sent_is_not_resent(
    client: TestClient, backbeat: Backbeat, alice: Tenant, run_id: str, status: DeliveryStatus
) -> None:
    endpoint = add_endpoint(client, alice)["id"]
    delivery = add_event(backbeat, run_id, endpoint, status)

    response = client.post(f"/api/webhooks/deliveries/{delivery.id}/resend", headers=alice.headers)

    assert_error(response, 409, f"the delivery is {status.value}: it is still being sent")


def test_resending_what_is_not_a_visible_webhook_delivery_is_not_found(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant, run_id: str
) -> None:
    endpoint = add_endpoint(client, alice)["id"]
    theirs = add_event(backbeat, run_id, endpoint, DeliveryStatus.SENT)
    email = add_event(
        backbeat, run_id, "alice@example.com", DeliveryStatus.SENT, channel=Channel.EMAIL
    )
    removed_endpoint = add_endpoint(client, alice)["id"]
    orphan = add_event(backbeat, run_id, removed_endpoint, DeliveryStatus.SENT)
    client.delete(f"/api/webhooks/{removed_endpoint}", headers=alice.headers)

    for tenant, delivery_id in [
        (alice, "delivery_nope"),
        (alice, "nul%00"),
        (alice, email.id),
        (alice, orphan.id),
        (bob, theirs.id),
    ]:
        response = client.post(
            f"/api/webhooks/deliveries/{delivery_id}/resend", headers=tenant.headers
        )
        assert_error(response, 404, "Webhook delivery not found")
    assert log_of(client, alice, endpoint)["deliveries"][0]["status"] == "sent"


def test_signing_secrets_never_reach_the_logs(
    client: TestClient, backbeat: Backbeat, alice: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    """Every record of every logger, at every level, while secrets are issued and used."""
    caplog.set_level(logging.DEBUG)
    created = add_endpoint(client, alice)
    endpoint = created["id"]
    rotated = client.post(f"/api/webhooks/{endpoint}/rotate", headers=alice.headers).json()
    client.get("/api/webhooks", headers=alice.headers)
    client.post(f"/api/webhooks/{endpoint}/enable", headers=alice.headers)
    client.post("/api/webhooks", json={"url": "https://x.io", "events": []}, headers=alice.headers)
    client.delete(f"/api/webhooks/{endpoint}", headers=alice.headers)

    secrets = [created["secret"], rotated["secret"]]
    assert all(secret.startswith("whsec_") for secret in secrets)
    assert any(record.name == "backbeat.webhooks" for record in caplog.records)  # it did log
    formatter = JsonFormatter()
    for record in caplog.records:
        seen = [formatter.format(record), record.getMessage(), repr(record.__dict__)]
        for secret in secrets:
            # …nor its key alone (what follows whsec_): a log could show either.
            for shown in (secret, secret.removeprefix("whsec_")):
                assert not any(shown in text for text in seen), record.getMessage()
