"""`backbeat webhooks …`: an account's webhook endpoints from a shell, as /api/webhooks
manages them (the same services, validation and messages)."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.domain.deliveries import DeliveryStatus, SendOutcome
from backbeat.domain.runs import RunStatus
from backbeat.domain.webhooks import secret_key
from backbeat.wiring import Backbeat
from tests.api.helpers import create_task
from tests.api.test_runs_endpoint import add_run
from tests.api.test_webhooks_deliveries import add_event
from tests.cli.conftest import Cli
from tests.conftest import Tenant

URL = "https://hooks.example.com/backbeat"


def account(tenant: Tenant) -> list[str]:
    return ["--account", str(tenant.account_id)]


def add(cli: Cli, tenant: Tenant, *extra: str) -> tuple[str, str]:
    """The endpoint's id and its secret, as `add` prints them (one a line)."""
    result = cli("webhooks", "add", *account(tenant), "--url", URL, *extra)
    assert result.exit_code == 0, result.output
    endpoint_id, secret = result.stdout.splitlines()
    assert "shown only now" in result.stderr
    return endpoint_id, secret


def api_endpoints(client: TestClient, tenant: Tenant) -> list[dict[str, Any]]:
    response = client.get("/api/webhooks", headers=tenant.headers)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["endpoints"]
    return found


def test_add_prints_the_id_and_the_signing_secret(
    cli: Cli, client: TestClient, alice: Tenant
) -> None:
    endpoint_id, secret = add(cli, alice, "--events", "run.completed, run.failed")

    assert endpoint_id.startswith("whep_")
    assert secret.startswith("whsec_")
    assert len(secret_key(secret)) == 32
    [listed] = api_endpoints(client, alice)
    assert listed["id"] == endpoint_id
    assert listed["url"] == URL
    assert listed["events"] == ["run.completed", "run.failed"]


def test_add_as_json_is_the_apis_object(cli: Cli, client: TestClient, alice: Tenant) -> None:
    created = cli.json("webhooks", "add", *account(alice), "--url", URL)

    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["run.completed", "run.failed", "run.canceled", "task.paused"]
    [listed] = api_endpoints(client, alice)
    assert listed == {key: value for key, value in created.items() if key != "secret"}


def test_list_never_prints_secrets(cli: Cli, alice: Tenant, bob: Tenant) -> None:
    first, first_secret = add(cli, alice)
    second, second_secret = add(cli, alice, "--events", "run.canceled")
    add(cli, bob)

    table = cli.ok("webhooks", "list", *account(alice))
    listed = cli.json("webhooks", "list", *account(alice))

    lines = table.splitlines()
    assert lines[0].split() == ["ID", "URL", "EVENTS", "CREATED", "(UTC)", "ENABLED"]
    assert [line.split()[0] for line in lines[1:]] == [first, second]
    assert "run.canceled" in lines[2]
    assert [each["id"] for each in listed] == [first, second]
    for printed in (table, str(listed)):
        assert "whsec_" not in printed
        assert first_secret not in printed
        assert second_secret not in printed
    bobs = cli.ok("webhooks", "list", *account(bob))
    assert len(bobs.splitlines()) == 2  # bob's one endpoint, under the headers


def test_invalid_input_is_the_apis_message(cli: Cli, alice: Tenant) -> None:
    base = ["webhooks", "add", *account(alice), "--url"]
    assert cli.error(*base, "ftp://x.io") == "url must be an http or https URL with a host"
    assert cli.error(*base, URL, "--events", "run.nope") == (
        "unknown webhook event 'run.nope': use run.completed, run.failed, run.canceled, task.paused"
    )
    assert cli.error(*base, URL, "--events", ",") == "subscribe to at least one event"
    rotate = ["webhooks", "rotate", "whep_x", *account(alice), "--overlap-hours"]
    assert cli.error(*rotate, "200") == "overlap_hours must be between 0 and 168"
    assert cli.json("webhooks", "list", *account(alice)) == []


def test_a_private_looking_url_is_accepted(cli: Cli, alice: Tenant) -> None:
    result = cli("webhooks", "add", *account(alice), "--url", "http://127.0.0.1:9/hook")
    assert result.exit_code == 0, result.output


def test_rotate_prints_a_new_secret(cli: Cli, alice: Tenant) -> None:
    endpoint_id, secret = add(cli, alice)

    result = cli("webhooks", "rotate", endpoint_id, *account(alice))

    assert result.exit_code == 0, result.output
    [rotated] = result.stdout.splitlines()
    assert rotated.startswith("whsec_")
    assert rotated != secret
    assert "the previous secret signs too until" in result.stderr
    again = cli.json("webhooks", "rotate", endpoint_id, *account(alice), "--overlap-hours", "0")
    assert set(again) == {"id", "secret", "previous_secret_valid_until"}
    assert again["previous_secret_valid_until"] is None
    assert again["secret"] not in (secret, rotated)


def test_remove_and_enable(cli: Cli, alice: Tenant) -> None:
    endpoint_id, _ = add(cli, alice)

    assert cli.ok("webhooks", "enable", endpoint_id, *account(alice)).strip() == (
        f"enabled {endpoint_id}"
    )
    enabled = cli.json("webhooks", "enable", endpoint_id, *account(alice))
    assert enabled["enabled"] is True
    assert "secret" not in enabled
    removed = cli.ok("webhooks", "remove", endpoint_id, *account(alice))
    assert removed.strip() == f"removed {endpoint_id}"
    assert cli.json("webhooks", "list", *account(alice)) == []
    for command in ("remove", "enable", "rotate", "deliveries"):
        message = cli.error("webhooks", command, endpoint_id, *account(alice))
        assert message == "Webhook endpoint not found"


def test_another_accounts_endpoint_is_not_found(cli: Cli, alice: Tenant, bob: Tenant) -> None:
    endpoint_id, _ = add(cli, alice)
    for command in ("remove", "enable", "rotate", "deliveries"):
        message = cli.error("webhooks", command, endpoint_id, *account(bob))
        assert message == "Webhook endpoint not found"
    assert [each["id"] for each in cli.json("webhooks", "list", *account(alice))] == [endpoint_id]


def test_deliveries_and_resend(
    cli: Cli, client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    endpoint_id, _ = add(cli, alice)
    task = create_task(client, alice)
    run = add_run(backbeat, task, 0, RunStatus.COMPLETED)
    failed = add_event(
        backbeat,
        run.id,
        endpoint_id,
        DeliveryStatus.FAILED,
        event="run.completed",
        tries=[(SendOutcome.TEMPORARY, "HTTP 503")],
    )

    table = cli.ok("webhooks", "deliveries", endpoint_id, *account(alice))
    logged = cli.json("webhooks", "deliveries", endpoint_id, *account(alice))

    header, row = table.splitlines()
    assert header.split()[:4] == ["ID", "EVENT", "RUN", "STATUS"]
    assert row.split()[:4] == [failed.id, "run.completed", run.id, "failed"]
    assert row.split()[-3:] == ["1", "HTTP", "503"]  # one try, and its error
    [entry] = logged
    assert entry["id"] == failed.id
    assert entry["tries"][0]["detail"] == "HTTP 503"
    bad = cli.error("webhooks", "deliveries", endpoint_id, *account(alice), "--before", "x", code=2)
    assert bad == "--before must be a delivery id (delivery_…)"

    resent = cli.ok("webhooks", "resend", failed.id, *account(alice))

    assert resent.strip() == f"queued {failed.id} to be sent again"
    assert cli.error("webhooks", "resend", failed.id, *account(alice)) == (
        "the delivery is pending: it is still being sent"
    )
    assert cli.error("webhooks", "resend", "delivery_nope", *account(alice)) == (
        "Webhook delivery not found"
    )
