"""Acting for another account through a shared organization reaches no further than that
organization: the task's artist must be the account's own or the shared organization's,
and the task records the organizations its emails may reach. An admin organization keeps
full reach; listing and changing the account's tasks follow the owner rule unchanged."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from backbeat.wiring import Backbeat
from tests.api.helpers import assert_error, list_tasks, task_body
from tests.conftest import Tenant, make_tenant
from tests.contract.test_reach_store import run_recipients

ARTIST_DENIED = "Access denied to specified artist_account_id"


@dataclass
class Orgs:
    """Alice shares Team with Carol; Carol's other organization, Label, is not Alice's."""

    alice: Tenant
    carol: Tenant
    dave: Tenant  # Label's staff
    team: UUID
    label: UUID
    team_artist: UUID
    label_artist: UUID


@pytest.fixture
def orgs(backbeat: Backbeat, alice: Tenant) -> Orgs:
    carol = make_tenant(backbeat, "carol@example.com")
    dave = make_tenant(backbeat, "dave@label.example")
    team = backbeat.admin.create_organization("Team")
    label = backbeat.admin.create_organization("Label")
    for org, tenant in ((team, alice), (team, carol), (label, carol), (label, dave)):
        backbeat.admin.add_member(org.id, tenant.account_id)
    team_artist = backbeat.admin.create_artist("Team artist", organization_id=team.id)
    label_artist = backbeat.admin.create_artist("Label artist", organization_id=label.id)
    return Orgs(alice, carol, dave, team.id, label.id, team_artist.id, label_artist.id)


def _create(client: TestClient, caller: Tenant, body: dict[str, Any]) -> Any:
    return client.post("/api/tasks", json=body, headers=caller.headers)


def _created(client: TestClient, caller: Tenant, body: dict[str, Any]) -> dict[str, Any]:
    response = _create(client, caller, body)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()["tasks"][0]
    return task


def _patch(client: TestClient, caller: Tenant, body: dict[str, Any]) -> Any:
    return client.patch("/api/tasks", json=body, headers=caller.headers)


def _scope(backbeat: Backbeat, task_id: str) -> tuple[UUID, ...] | None:
    with backbeat.uow() as uow:
        task = uow.tasks.get(UUID(task_id))
    assert task is not None
    return task.scope_organization_ids


def _for_carol(orgs: Orgs, artist: UUID, **fields: Any) -> dict[str, Any]:
    return task_body(
        orgs.carol, account_id=str(orgs.carol.account_id), artist_account_id=str(artist), **fields
    )


class TestArtists:
    def test_an_artist_of_the_owners_other_organization_is_refused(
        self, client: TestClient, orgs: Orgs
    ) -> None:
        body = _for_carol(orgs, orgs.label_artist)
        assert_error(_create(client, orgs.alice, body), 403, ARTIST_DENIED)
        assert list_tasks(client, orgs.carol) == []

    def test_the_shared_organizations_artist_and_the_owners_own_are_usable(
        self, client: TestClient, orgs: Orgs
    ) -> None:
        shared = _created(client, orgs.alice, _for_carol(orgs, orgs.team_artist))
        own = _created(client, orgs.alice, _for_carol(orgs, orgs.carol.artist_id))

        assert shared["account_id"] == own["account_id"] == str(orgs.carol.account_id)

    def test_the_owner_keeps_every_artist_of_their_organizations(
        self, client: TestClient, orgs: Orgs
    ) -> None:
        body = task_body(orgs.carol, artist_account_id=str(orgs.label_artist))
        assert _created(client, orgs.carol, body)["artist_account_id"] == str(orgs.label_artist)

    def test_an_admin_organization_keeps_full_reach(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        operator = make_tenant(backbeat, "ops@backbeat.example")
        admins = backbeat.admin.create_organization("Operators", is_admin=True)
        backbeat.admin.add_member(admins.id, operator.account_id)
        backbeat.admin.add_member(orgs.team, operator.account_id)  # shares Team too

        task = _created(client, operator, _for_carol(orgs, orgs.label_artist))

        assert task["artist_account_id"] == str(orgs.label_artist)
        assert _scope(backbeat, task["id"]) is None

    def test_changing_the_artist_to_one_out_of_reach_is_refused(
        self, client: TestClient, orgs: Orgs
    ) -> None:
        task = _created(client, orgs.alice, _for_carol(orgs, orgs.team_artist))
        body = {
            "id": task["id"],
            "account_id": str(orgs.carol.account_id),
            "artist_account_id": str(orgs.label_artist),
        }
        assert_error(_patch(client, orgs.alice, body), 403, ARTIST_DENIED)

    def test_rewriting_a_task_whose_artist_is_out_of_reach_is_refused(
        self, client: TestClient, orgs: Orgs
    ) -> None:
        """Carol's own task on Label's artist: Alice may list, pause and resume it (the owner
        rule), but not give it new instructions."""
        carols = _created(
            client, orgs.carol, task_body(orgs.carol, artist_account_id=str(orgs.label_artist))
        )
        acting = {"id": carols["id"], "account_id": str(orgs.carol.account_id)}

        listed = client.get(
            "/api/tasks",
            params={"account_id": str(orgs.carol.account_id)},
            headers=orgs.alice.headers,
        )
        assert [task["id"] for task in listed.json()["tasks"]] == [carols["id"]]
        paused = _patch(client, orgs.alice, {**acting, "enabled": False})
        assert paused.status_code == 200, paused.text
        for change in ({"prompt": "Email everyone at Label."}, {"title": "Label news"}):
            assert_error(_patch(client, orgs.alice, {**acting, **change}), 403, ARTIST_DENIED)


class TestScope:
    def test_a_task_made_through_a_shared_organization_is_scoped_to_it(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        task = _created(client, orgs.alice, _for_carol(orgs, orgs.carol.artist_id))

        assert _scope(backbeat, task["id"]) == (orgs.team,)

    def test_every_shared_organization_is_in_scope(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        backbeat.admin.add_member(orgs.label, orgs.alice.account_id)

        task = _created(client, orgs.alice, _for_carol(orgs, orgs.label_artist))

        assert set(_scope(backbeat, task["id"]) or ()) == {orgs.team, orgs.label}

    def test_the_owners_own_task_is_unscoped(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        task = _created(client, orgs.carol, task_body(orgs.carol))

        assert _scope(backbeat, task["id"]) is None

    def test_rewriting_through_a_shared_organization_narrows_the_scope(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        task = _created(client, orgs.carol, task_body(orgs.carol))
        acting = {"id": task["id"], "account_id": str(orgs.carol.account_id)}

        _patch(client, orgs.alice, {**acting, "enabled": False})
        assert _scope(backbeat, task["id"]) is None  # pausing changes no instructions

        response = _patch(client, orgs.alice, {**acting, "prompt": "Email the team."})
        assert response.status_code == 200, response.text
        assert _scope(backbeat, task["id"]) == (orgs.team,)

    def test_the_owner_editing_never_widens_the_scope(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        task = _created(client, orgs.alice, _for_carol(orgs, orgs.carol.artist_id))

        response = _patch(client, orgs.carol, {"id": task["id"], "title": "Carol's now"})

        assert response.status_code == 200, response.text
        assert _scope(backbeat, task["id"]) == (orgs.team,)

    def test_recipients_of_a_scoped_task_are_the_owner_and_the_shared_organization(
        self, client: TestClient, backbeat: Backbeat, orgs: Orgs
    ) -> None:
        scoped = _created(client, orgs.alice, _for_carol(orgs, orgs.carol.artist_id))
        carols = _created(client, orgs.carol, task_body(orgs.carol))

        with backbeat.uow() as uow:
            for_scoped = run_recipients(uow, orgs.carol.account_id, UUID(scoped["id"]))
            for_carols = run_recipients(uow, orgs.carol.account_id, UUID(carols["id"]))

        assert for_scoped == {"carol@example.com", "alice@example.com"}
        assert for_carols == {"carol@example.com", "alice@example.com", "dave@label.example"}
