"""A task's `SERVER/tool` names through the API: accepted when the server is registered and
open to the task's owner (open to every account, or the owner is a member of one of its
organizations); refused with a clear 400 otherwise, at create and at update."""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, task_body
from tests.conftest import Tenant

CLOSED = (
    "the MCP server 'label-data' is open only to members of its organizations, and the task's "
    "owner is not one"
)


def post(client: TestClient, tenant: Tenant, **fields: Any) -> Any:
    return client.post("/api/tasks", json=task_body(tenant, **fields), headers=tenant.headers)


def patch(client: TestClient, tenant: Tenant, body: dict[str, Any]) -> Any:
    return client.patch("/api/tasks", json=body, headers=tenant.headers)


def test_a_registered_open_server_s_tools_are_accepted(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    backbeat.mcp_servers.add("charts", url="https://charts.example/mcp")
    task = create_task(client, alice, tools=["charts/top_songs", "read_artist_profile"])
    assert task["tools"] == ["charts/top_songs", "read_artist_profile"]
    changed = patch(client, alice, {"id": task["id"], "tools": ["charts/artist.streams"]})
    assert changed.status_code == 200, changed.text
    assert changed.json()["tasks"][0]["tools"] == ["charts/artist.streams"]


def test_an_unregistered_server_is_refused(client: TestClient, alice: Tenant) -> None:
    answer = post(client, alice, tools=["read_artist_profile", "charts/top_songs"])
    assert_error(answer, 400, "no MCP server named 'charts' is registered", ["tools", 1])


def test_a_server_of_other_organizations_is_refused_until_the_owner_joins_one(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    label = backbeat.admin.create_organization("Label")
    other = backbeat.admin.create_organization("Other label")
    backbeat.admin.add_member(label.id, bob.account_id)
    backbeat.mcp_servers.add(
        "label-data", url="https://data.label.example/mcp", organizations=[label.id, other.id]
    )

    assert_error(post(client, alice, tools=["label-data/streams"]), 400, CLOSED, ["tools", 0])
    mine = create_task(client, alice)
    refused = patch(client, alice, {"id": mine["id"], "tools": ["label-data/streams"]})
    assert_error(refused, 400, CLOSED, ["tools", 0])

    theirs = create_task(client, bob, tools=["label-data/streams"])  # bob is a member
    assert theirs["tools"] == ["label-data/streams"]

    backbeat.admin.add_member(other.id, alice.account_id)  # any one of its organizations
    joined = patch(client, alice, {"id": mine["id"], "tools": ["label-data/streams"]})
    assert joined.status_code == 200, joined.text
    assert joined.json()["tasks"][0]["tools"] == ["label-data/streams"]


def test_a_removed_server_is_refused_at_the_next_save(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    backbeat.mcp_servers.add("charts", command="charts-mcp --stdio")
    task = create_task(client, alice, tools=["charts/top_songs"])
    backbeat.mcp_servers.remove("charts")
    answer = patch(client, alice, {"id": task["id"], "tools": ["charts/top_songs"]})
    assert_error(answer, 400, "no MCP server named 'charts' is registered", ["tools", 0])
    kept = patch(client, alice, {"id": task["id"], "title": "Renamed"})  # tools not given
    assert kept.status_code == 200, kept.text


def test_acting_through_a_shared_organization_reaches_only_its_servers(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    """Bob shares only organization B with Alice, who is also in A: acting for her, he
    cannot give her task the tools of a server open only to A (decisions.md: acting through
    a shared organization never reaches further than that organization)."""
    a = backbeat.admin.create_organization("A")
    b = backbeat.admin.create_organization("B")
    backbeat.admin.add_member(a.id, alice.account_id)
    backbeat.admin.add_member(b.id, alice.account_id)
    backbeat.admin.add_member(b.id, bob.account_id)
    backbeat.mcp_servers.add("a-only", url="https://a.example/mcp", organizations=[a.id])
    backbeat.mcp_servers.add("b-only", url="https://b.example/mcp", organizations=[b.id])

    as_bob = {"account_id": str(alice.account_id)}
    body = task_body(alice, tools=["a-only/write"], **as_bob)
    refused = client.post("/api/tasks", json=body, headers=bob.headers)
    assert refused.status_code == 400, refused.text
    assert "'a-only' is open only to members" in refused.json()["error"]
    body = task_body(alice, tools=["b-only/read"], **as_bob)
    allowed = client.post("/api/tasks", json=body, headers=bob.headers)
    assert allowed.status_code == 200, allowed.text

    # Her own task, edited by Bob: his edit of its tools is held to B as well.
    hers = create_task(client, alice)
    edit = {"id": hers["id"], "tools": ["a-only/write"], **as_bob}
    refused = client.patch("/api/tasks", json=edit, headers=bob.headers)
    assert refused.status_code == 400, refused.text
    assert patch(client, alice, {"id": hers["id"], "tools": ["a-only/write"]}).status_code == 200
