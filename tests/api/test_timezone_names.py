"""Only IANA zone names: names that mean whatever the host is set to (`localtime`), files
of the host's zoneinfo directory that are not zones, and paths are refused, so that fire
times cannot differ between hosts."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from backbeat.store.tables import tasks
from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, create_task, list_tasks, task_body
from tests.conftest import Tenant

MESSAGE = "timezone must be a valid IANA time zone"
HOST_DEPENDENT = [
    "localtime",
    "posixrules",
    "Factory",
    "posix/Europe/Berlin",
    "right/UTC",
    "/etc/localtime",
    "/usr/share/zoneinfo/Europe/Berlin",
    "../zoneinfo/UTC",
    "Europe/../UTC",
    "./UTC",
    ":Europe/Berlin",
    "zone.tab",
    "tzdata.zi",
    "leapseconds",
]


@pytest.mark.parametrize("zone", HOST_DEPENDENT)
def test_create_refuses_host_dependent_zones(client: TestClient, alice: Tenant, zone: str) -> None:
    response = client.post(
        "/api/tasks", json=task_body(alice, timezone=zone), headers=alice.headers
    )

    assert_error(response, 400, MESSAGE, ["timezone"])


@pytest.mark.parametrize("zone", HOST_DEPENDENT)
def test_update_refuses_host_dependent_zones(client: TestClient, alice: Tenant, zone: str) -> None:
    task = create_task(client, alice)

    response = client.patch(
        "/api/tasks", json={"id": task["id"], "timezone": zone}, headers=alice.headers
    )

    assert_error(response, 400, MESSAGE, ["timezone"])


@pytest.mark.parametrize(
    "zone", ["UTC", "Etc/UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "US/Eastern"]
)
def test_iana_names_and_their_links_are_accepted(
    client: TestClient, alice: Tenant, zone: str
) -> None:
    assert create_task(client, alice, timezone=zone)["timezone"] == zone


def test_a_task_saved_with_a_host_dependent_zone_still_lists(
    client: TestClient, backbeat: Backbeat, alice: Tenant
) -> None:
    """Tasks saved before these names were refused keep working: never a 500."""
    task = create_task(client, alice, schedule="0 9 * * *")
    with backbeat.engine.begin() as connection:
        connection.execute(tasks.update().values(timezone="localtime"))

    [listed] = list_tasks(client, alice)
    renamed = client.patch(
        "/api/tasks", json={"id": task["id"], "title": "Renamed"}, headers=alice.headers
    )
    moved = client.patch(
        "/api/tasks", json={"id": task["id"], "timezone": "Europe/Berlin"}, headers=alice.headers
    )

    assert listed["timezone"] == "localtime"
    assert len(listed["upcoming"]) == 5
    assert renamed.status_code == 200, renamed.text
    assert moved.json()["tasks"][0]["timezone"] == "Europe/Berlin"
