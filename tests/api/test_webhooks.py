"""/api/webhooks (an extension): registering, listing and removing an account's endpoints;
their validation messages, their isolation between accounts, and secrets never listed.
Rotating and enabling: test_webhooks_rotation.py; the delivery log: test_webhooks_deliveries.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from backbeat.domain.webhooks import SECRET_PREFIX, secret_key
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error
from tests.conftest import Tenant

HOOK_URL = "https://hooks.example.com/backbeat"
ALL_EVENTS = ["run.completed", "run.failed", "run.canceled", "task.paused"]
ENDPOINT_FIELDS = {
    "id",
    "account_id",
    "url",
    "events",
    "enabled",
    "created_at",
    "updated_at",
    "failing_since",
    "disabled_at",
    "disabled_reason",
    "previous_secret_valid_until",
}


def add_endpoint(client: TestClient, tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = client.post("/api/webhooks", json={"url": HOOK_URL, **body}, headers=tenant.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def endpoints(client: TestClient, tenant: Tenant, **params: str) -> list[dict[str, Any]]:
    response = client.get("/api/webhooks", params=params, headers=tenant.headers)
    assert response.status_code == 200, response.text
    assert "whsec_" not in response.text
    listed: list[dict[str, Any]] = response.json()["endpoints"]
    return listed


def test_register_list_and_remove(client: TestClient, alice: Tenant) -> None:
    created = add_endpoint(client, alice, events=["run.failed", "run.completed"])

    assert created["status"] == "success"
    assert created["id"].startswith("whep_")
    assert created["url"] == HOOK_URL
    assert created["events"] == ["run.failed", "run.completed"]
    assert created["enabled"] is True
    assert created["created_at"] == "2026-01-05T12:00:00.000Z"
    assert created["account_id"] == str(alice.account_id)
    assert created["secret"].startswith(SECRET_PREFIX)
    assert len(secret_key(created["secret"])) == 32
    [listed] = endpoints(client, alice)
    assert set(listed) == ENDPOINT_FIELDS  # no secret
    assert listed == {k: v for k, v in created.items() if k not in ("status", "secret")}

    removed = client.delete(f"/api/webhooks/{created['id']}", headers=alice.headers)

    assert removed.status_code == 200
    assert removed.json() == {"status": "success"}
    assert endpoints(client, alice) == []
    again = client.delete(f"/api/webhooks/{created['id']}", headers=alice.headers)
    assert_error(again, 404, "Webhook endpoint not found")


def test_events_default_to_all_and_repeats_collapse(client: TestClient, alice: Tenant) -> None:
    assert add_endpoint(client, alice)["events"] == ALL_EVENTS
    twice = add_endpoint(client, alice, events=["run.failed", "run.failed"])
    assert twice["events"] == ["run.failed"]
    assert [each["events"] for each in endpoints(client, alice)] == [ALL_EVENTS, ["run.failed"]]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://10.0.0.7/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://169.254.169.254/latest",
    ],
)
def test_a_private_looking_url_is_accepted_at_registration(
    client: TestClient, alice: Tenant, url: str
) -> None:
    """Where a name resolves is checked when an event is sent, not here."""
    assert add_endpoint(client, alice, url=url)["url"] == url


UNKNOWN_EVENT = (
    "unknown webhook event 'run.started': use run.completed, run.failed, run.canceled, task.paused"
)


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({}, "Invalid input: expected string, received undefined", "url"),
        ({"url": ""}, "url is required", "url"),
        ({"url": "   "}, "url is required", "url"),
        ({"url": 42}, "Invalid input: expected string, received number", "url"),
        ({"url": None}, "Invalid input: expected string, received null", "url"),
        ({"url": "not a url"}, "url must be an http or https URL with a host", "url"),
        (
            {"url": "ftp://files.example.com/x"},
            "url must be an http or https URL with a host",
            "url",
        ),
        ({"url": "https://"}, "url must be an http or https URL with a host", "url"),
        ({"url": "https://example.com:http/"}, "url is not a valid URL", "url"),
        ({"url": "https://user:pw@example.com/"}, "url must not carry credentials", "url"),
        (
            {"url": "https://example.com/a b"},
            "url must not contain spaces or control characters",
            "url",
        ),
        (
            {"url": "https://exa\x00mple.com/"},
            "url must not contain spaces or control characters",
            "url",
        ),
        ({"url": "https://x.io/" + "a" * 2048}, "url is longer than 2048 characters", "url"),
        ({"url": HOOK_URL, "events": []}, "subscribe to at least one event", "events"),
        ({"url": HOOK_URL, "events": ["run.started"]}, UNKNOWN_EVENT, "events"),
        (
            {"url": HOOK_URL, "events": ["run.failed", "run.started"]},
            UNKNOWN_EVENT,
            "events",
        ),
        (
            {"url": HOOK_URL, "events": None},
            "Invalid input: expected array, received null",
            "events",
        ),
        (
            {"url": HOOK_URL, "events": "run.failed"},
            "Invalid input: expected array, received string",
            "events",
        ),
        (
            {"url": HOOK_URL, "events": [7]},
            "Invalid input: expected string, received number",
            "events",
        ),
        ({"url": HOOK_URL, "account_id": "nope"}, "account_id must be a valid UUID", "account_id"),
    ],
)
def test_invalid_registrations_name_the_field(
    client: TestClient, alice: Tenant, body: dict[str, Any], message: str, field: str
) -> None:
    response = client.post("/api/webhooks", json=body, headers=alice.headers)

    assert_error(response, 400, message, [field])
    assert endpoints(client, alice) == []


@pytest.mark.parametrize(
    ("content", "message", "fields"),
    [
        (b"", "Invalid JSON body", None),
        (b"{", "Invalid JSON body", None),
        (b"[]", "Invalid input: expected object, received array", []),
        (b'{"url": "https://x.io", "colour": "red"}', 'Unrecognized key: "colour"', []),
    ],
)
def test_bodies_that_are_not_a_registration(
    client: TestClient, alice: Tenant, content: bytes, message: str, fields: list[str] | None
) -> None:
    response = client.post(
        "/api/webhooks",
        content=content,
        headers={**alice.headers, "content-type": "application/json"},
    )
    assert_error(response, 400, message, fields)


def test_credentials_are_checked_before_anything_else(client: TestClient, alice: Tenant) -> None:
    created = add_endpoint(client, alice)
    calls = [
        ("POST", "/api/webhooks", b"{"),
        ("GET", "/api/webhooks?colour=red", None),
        ("DELETE", f"/api/webhooks/{created['id']}", None),
        ("POST", f"/api/webhooks/{created['id']}/rotate", None),
        ("POST", f"/api/webhooks/{created['id']}/enable", None),
        ("GET", f"/api/webhooks/{created['id']}/deliveries", None),
        ("POST", "/api/webhooks/deliveries/delivery_x/resend", None),
    ]
    for method, path, content in calls:
        response = client.request(method, path, content=content)
        assert_error(response, 401, "Exactly one of x-api-key or Authorization must be provided")
    assert len(endpoints(client, alice)) == 1


def test_unknown_query_parameters_are_refused(client: TestClient, alice: Tenant) -> None:
    response = client.get("/api/webhooks", params={"acount_id": "x"}, headers=alice.headers)
    assert_error(response, 400, 'Unrecognized key: "acount_id"', [])
    response = client.get("/api/webhooks", params={"account_id": "x"}, headers=alice.headers)
    assert_error(response, 400, "account_id must be a valid UUID", ["account_id"])


def test_accounts_never_see_each_others_endpoints(
    client: TestClient, alice: Tenant, bob: Tenant
) -> None:
    theirs = add_endpoint(client, alice)["id"]
    add_endpoint(client, bob, url="https://bob.example.com/hook")

    assert [each["url"] for each in endpoints(client, bob)] == ["https://bob.example.com/hook"]
    for method, path in [
        ("DELETE", f"/api/webhooks/{theirs}"),
        ("POST", f"/api/webhooks/{theirs}/rotate"),
        ("POST", f"/api/webhooks/{theirs}/enable"),
        ("GET", f"/api/webhooks/{theirs}/deliveries"),
    ]:
        response = client.request(method, path, headers=bob.headers)
        assert_error(response, 404, "Webhook endpoint not found")
    denied = "Access denied to specified account_id"
    listing = client.get(
        "/api/webhooks", params={"account_id": str(alice.account_id)}, headers=bob.headers
    )
    assert_error(listing, 403, denied)
    adding = client.post(
        "/api/webhooks",
        json={"url": HOOK_URL, "account_id": str(alice.account_id)},
        headers=bob.headers,
    )
    assert_error(adding, 403, denied)
    assert [each["id"] for each in endpoints(client, alice)] == [theirs]


def test_an_organization_mate_manages_the_accounts_endpoints(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    org = backbeat.admin.create_organization("Label")
    backbeat.admin.add_member(org.id, alice.account_id)
    backbeat.admin.add_member(org.id, bob.account_id)

    created = add_endpoint(client, bob, account_id=str(alice.account_id))

    assert created["account_id"] == str(alice.account_id)
    assert endpoints(client, bob) == []
    assert [each["id"] for each in endpoints(client, alice)] == [created["id"]]
    mates = endpoints(client, bob, account_id=str(alice.account_id))
    assert [each["id"] for each in mates] == [created["id"]]
    rotated = client.post(f"/api/webhooks/{created['id']}/rotate", headers=bob.headers)
    assert rotated.status_code == 200, rotated.text


@pytest.mark.parametrize("endpoint_id", ["whep_nope", "nul%00id", "x" * 300, "%F0%9F%8E%B5"])
def test_unknown_endpoints_are_not_found(
    client: TestClient, alice: Tenant, endpoint_id: str
) -> None:
    for method, suffix in [
        ("DELETE", ""),
        ("POST", "/rotate"),
        ("POST", "/enable"),
        ("GET", "/deliveries"),
    ]:
        response = client.request(
            method, f"/api/webhooks/{endpoint_id}{suffix}", headers=alice.headers
        )
        assert_error(response, 404, "Webhook endpoint not found")


def test_the_extension_is_documented(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    operations = {
        ("/api/webhooks", "post"): "IssuedWebhookEndpoint",
        ("/api/webhooks", "get"): "WebhookEndpointsResponse",
        ("/api/webhooks/{endpoint_id}", "delete"): "DeleteTaskResponse",
        ("/api/webhooks/{endpoint_id}/rotate", "post"): "RotatedWebhookSecret",
        ("/api/webhooks/{endpoint_id}/enable", "post"): "WebhookEndpointResponse",
        ("/api/webhooks/{endpoint_id}/deliveries", "get"): "WebhookDeliveriesResponse",
        ("/api/webhooks/deliveries/{delivery_id}/resend", "post"): "ResentWebhookDelivery",
    }
    for (path, method), answer in operations.items():
        operation = paths[path][method]
        assert operation["x-backbeat-extension"] is True
        assert operation["summary"].endswith("(extension)")
        ok = "201" if method == "post" and path == "/api/webhooks" else "200"
        body = operation["responses"][ok]["content"]["application/json"]["schema"]
        assert body == {"$ref": f"#/components/schemas/{answer}"}
        assert {"401", "403", "500", "503"} <= set(operation["responses"])
    components = schema["components"]["schemas"]
    for name in ["CreateWebhookRequest", "RotateWebhookRequest", "WebhookEndpoint"]:
        assert components[name]["x-backbeat-extension"] is True
    assert "secret" not in components["WebhookEndpoint"]["properties"]
    assert "secret" in components["IssuedWebhookEndpoint"]["properties"]
    events = components["CreateWebhookRequest"]["properties"]["events"]
    assert events["items"]["enum"] == ALL_EVENTS
