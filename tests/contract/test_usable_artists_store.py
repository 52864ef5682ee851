"""Store contract behind the dashboard's artist list: `usable_artists` names exactly the
artists `artist_usable_by` allows, on every backend."""

from __future__ import annotations

from uuid import uuid4

from tests.contract.builders import T0, UowFactory, account, artist, organization


def test_usable_artists_are_those_artist_usable_by_allows(uow: UowFactory) -> None:
    carol, dave = account("carol@example.com"), account("dave@example.com")
    team, label, other = organization("Team"), organization("Label"), organization("Other")
    carols, daves = artist(account_id=carol.id), artist(account_id=dave.id)
    team_artist, label_artist = artist(organization_id=team.id), artist(organization_id=label.id)
    other_artist = artist(organization_id=other.id)
    everyone = [carols, daves, team_artist, label_artist, other_artist]
    with uow(write=True) as u:
        for each in (carol, dave):
            u.accounts.add(each)
        for org in (team, label, other):
            u.accounts.add_organization(org)
        u.accounts.add_member(team.id, carol.id, T0)
        u.accounts.add_member(label.id, carol.id, T0)
        u.accounts.add_member(other.id, dave.id, T0)
        for one in everyone:
            u.accounts.add_artist(one)
        u.commit()

    with uow() as u:
        for scope in (None, [team.id], [], [other.id], [team.id, label.id]):
            usable = u.accounts.usable_artists(carol.id, organizations=scope)
            allowed = {
                one.id
                for one in everyone
                if u.accounts.artist_usable_by(one.id, carol.id, organizations=scope)
            }
            assert set(usable) == allowed, scope
            assert all(usable[each] == "Artist" for each in usable)
        assert set(u.accounts.usable_artists(carol.id)) == {
            carols.id,
            team_artist.id,
            label_artist.id,
        }
        assert set(u.accounts.usable_artists(carol.id, organizations=[team.id])) == {
            carols.id,
            team_artist.id,
        }
        assert set(u.accounts.usable_artists(carol.id, organizations=[])) == {carols.id}
        assert u.accounts.usable_artists(uuid4()) == {}
