"""The task form's choices: the artists the account acted for may use, by name (exactly those
a save accepts, as the API decides), and the time zones the API accepts, in a searchable list."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from starlette.testclient import TestClient

from backbeat.dashboard.times import zone_choices
from backbeat.store.tables import organization_members
from backbeat.wiring import Backbeat
from tests.conftest import Tenant, make_tenant
from tests.dashboard.helpers import Dashboard, Node, Page, create_task, signed_in

FORM = {"title": "Pulse", "prompt": "Summarise the week.", "schedule": "0 9 * * 4"}


@dataclass
class Team:
    """Alice and Carol share Team; Carol is also in Label, without Alice. Bob is alone."""

    alice: Tenant
    bob: Tenant
    carol: Tenant
    team_artist: UUID
    label_artist: UUID


def make_team(backbeat: Backbeat, alice: Tenant, bob: Tenant) -> Team:
    carol = make_tenant(backbeat, "carol@example.com")
    team = backbeat.admin.create_organization("Team")
    label = backbeat.admin.create_organization("Label")
    for org, member in ((team, alice), (team, carol), (label, carol)):
        backbeat.admin.add_member(org.id, member.account_id)
    team_artist = backbeat.admin.create_artist("Team Choir", organization_id=team.id)
    label_artist = backbeat.admin.create_artist("Label Band", organization_id=label.id)
    return Team(alice, bob, carol, team_artist.id, label_artist.id)


def artist_select(page: Page) -> Node:
    return page.one("select", id="task-artist_account_id")


def options(page: Page) -> list[tuple[str, str]]:
    """The artist list as shown: (value, label) of each option that can be chosen."""
    return [
        (node.attrs.get("value") or "", node.text.strip())
        for node in artist_select(page).walk()
        if node.tag == "option" and node.attrs.get("value") and "disabled" not in node.attrs
    ]


def selected(page: Page) -> str | None:
    found = [n for n in artist_select(page).walk() if n.tag == "option" and "selected" in n.attrs]
    return (found[0].attrs.get("value") or "") if found else None


def api_accepts(client: TestClient, tenant: Tenant, artist: UUID, account: UUID | None) -> bool:
    body = {**FORM, "artist_account_id": str(artist)}
    if account is not None:
        body["account_id"] = str(account)
    response = client.post("/api/tasks", json=body, headers=tenant.headers)
    assert response.status_code in (200, 403), response.text
    return response.status_code == 200


def test_the_form_lists_the_accounts_artists_by_name(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    team = make_team(backbeat, alice, bob)
    dashboard = signed_in(client, alice)

    page = dashboard.get("/dashboard/tasks/new")

    assert page.label_for("task-artist_account_id") == "Artist"
    assert options(page) == [
        (str(alice.artist_id), "Artist of alice@example.com"),
        (str(team.team_artist), "Team Choir"),
    ]
    assert str(bob.artist_id) not in page.html  # another account's artist is not offered
    assert str(team.label_artist) not in page.html  # nor an organization Alice is not in
    assert selected(page) == ""  # two to choose from: no guess
    assert "required" in artist_select(page).attrs


def test_the_choices_are_exactly_the_artists_a_save_accepts(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    team = make_team(backbeat, alice, bob)
    everyone = [alice.artist_id, bob.artist_id, team.carol.artist_id]
    everyone += [team.team_artist, team.label_artist]
    dashboard = signed_in(client, alice)

    for acting_for in (None, team.carol.account_id):  # her own; Carol's, through Team
        if acting_for is not None:
            dashboard.post("/dashboard/account", {"account": str(acting_for)})
        offered = {UUID(value) for value, _ in options(dashboard.get("/dashboard/tasks/new"))}
        accepted = {a for a in everyone if api_accepts(client, alice, a, acting_for)}
        assert offered == accepted, acting_for
    # Acting for Carol reaches her own artist and Team's, not Label's (Alice is not in it).
    assert offered == {team.carol.artist_id, team.team_artist}


def test_saving_an_artist_out_of_reach_is_still_refused(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    team = make_team(backbeat, alice, bob)
    dashboard = signed_in(client, alice)
    dashboard.get("/dashboard/tasks/new")

    for artist in (bob.artist_id, team.label_artist):
        response = dashboard.post(
            "/dashboard/tasks/new", {**FORM, "artist_account_id": str(artist)}
        )

        assert response.status_code == 403
        page = Page(response)
        assert page.text("form-error") == "Access denied to specified artist_account_id"
        assert options(page) == [
            (str(alice.artist_id), "Artist of alice@example.com"),
            (str(team.team_artist), "Team Choir"),
        ]
        assert selected(page) == ""  # the refused one is not shown as chosen
    assert client.get("/api/tasks", headers=alice.headers).json()["tasks"] == []


def test_the_only_artist_is_chosen_and_the_form_posts_its_id(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    page = dashboard.get("/dashboard/tasks/new")

    assert options(page) == [(str(alice.artist_id), "Artist of alice@example.com")]
    assert selected(page) == str(alice.artist_id)
    created = dashboard.post(
        "/dashboard/tasks/new", {**FORM, "artist_account_id": selected(page) or ""}
    )
    assert created.status_code == 303


def test_the_edit_form_shows_the_tasks_artist(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    team = make_team(backbeat, alice, bob)
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, artist_account_id=str(team.team_artist))

    page = dashboard.get(f"/dashboard/tasks/{task_id}")

    assert selected(page) == str(team.team_artist)
    assert "Team Choir" in page.text("task-facts")


def test_an_artist_no_longer_in_reach_is_shown_not_offered(
    client: TestClient, backbeat: Backbeat, alice: Tenant, bob: Tenant
) -> None:
    team = make_team(backbeat, alice, bob)
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, artist_account_id=str(team.team_artist))
    with backbeat.engine.begin() as connection:  # no admin command removes a member yet
        connection.execute(organization_members.delete())

    page = dashboard.get(f"/dashboard/tasks/{task_id}")

    assert options(page) == [(str(alice.artist_id), "Artist of alice@example.com")]
    [kept] = [n for n in artist_select(page).walk() if n.tag == "option" and "selected" in n.attrs]
    assert "disabled" in kept.attrs  # shown, but not sent: saving keeps it as it is
    assert kept.text.strip() == "Team Choir (current; no longer available)"
    moved = dashboard.post(
        f"/dashboard/tasks/{task_id}",
        {**FORM, "timezone": "UTC", "model": "", "artist_account_id": str(team.team_artist)},
    )
    assert moved.status_code == 403  # choosing it by hand is refused, as by the API


def test_same_names_are_told_apart(client: TestClient, backbeat: Backbeat, alice: Tenant) -> None:
    twin = backbeat.admin.create_artist("artist of ALICE@example.com", account_id=alice.account_id)
    dashboard = signed_in(client, alice)

    labels = [label for _, label in options(dashboard.get("/dashboard/tasks/new"))]

    assert sorted(labels) == sorted(
        [
            f"Artist of alice@example.com ({str(alice.artist_id)[:8]})",
            f"artist of ALICE@example.com ({str(twin.id)[:8]})",
        ]
    )


def test_without_an_artist_the_form_says_so(client: TestClient, backbeat: Backbeat) -> None:
    account = backbeat.admin.create_account("new@example.com")
    issued = backbeat.admin.create_key(account.id)
    dashboard = Dashboard(client)
    assert dashboard.sign_in(issued.secret_value).status_code == 303

    page = dashboard.get("/dashboard/tasks/new")

    assert not page.all("select", id="task-artist_account_id")
    assert page.text("no-artist_account_id").startswith("No artist is available to this account")
    button = page.testid("save-task")
    assert "disabled" in button.attrs
    assert button.attrs["aria-describedby"] == "task-artist_account_id-none"


# --- Time zones ------------------------------------------------------------------------------


def zone_list(page: Page) -> list[str]:
    field = page.one("input", id="task-timezone")
    datalist = page.one("datalist", id=field.attrs["list"] or "")
    return [node.attrs["value"] or "" for node in datalist.walk() if node.tag == "option"]


def test_the_zone_is_searched_in_the_zones_the_api_accepts(
    client: TestClient, alice: Tenant
) -> None:
    dashboard = signed_in(client, alice)
    page = dashboard.get("/dashboard/tasks/new")

    zones = zone_list(page)

    assert page.one("input", id="task-timezone").attrs["value"] == "UTC"  # the default
    assert zones == list(zone_choices())
    assert zones[0] == "UTC"
    assert {"Europe/London", "America/New_York", "Asia/Kolkata"} <= set(zones)
    refused = [z for z in zones if z in ("localtime", "posixrules", "Factory")]
    refused += [z for z in zones if z.startswith(("posix/", "right/"))]
    assert refused == []
    for zone in ("Europe/London", "localtime"):  # the list is the API's: one taken, one not
        response = client.post(
            "/api/tasks",
            json={**FORM, "timezone": zone, "artist_account_id": str(alice.artist_id)},
            headers=alice.headers,
        )
        assert (response.status_code == 200) == (zone in zones), zone


def test_the_edit_form_starts_from_the_tasks_zone(client: TestClient, alice: Tenant) -> None:
    dashboard = signed_in(client, alice)
    task_id = create_task(dashboard, alice, timezone="Asia/Kolkata")

    page = dashboard.get(f"/dashboard/tasks/{task_id}")

    assert page.one("input", id="task-timezone").attrs["value"] == "Asia/Kolkata"
    assert "Asia/Kolkata" in zone_list(page)
    refused = dashboard.post(
        f"/dashboard/tasks/{task_id}",
        {**FORM, "timezone": "localtime", "artist_account_id": str(alice.artist_id)},
    )
    assert refused.status_code == 400  # the server still checks what is typed
    assert Page(refused).text("form-error") == "timezone must be a valid IANA time zone"
