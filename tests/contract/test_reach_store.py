"""Store contracts behind a shared organization's reach and server-side dashboard sessions,
on every backend."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from backbeat.domain.models import Account, Artist, Organization
from backbeat.domain.ports import UnitOfWork
from backbeat.store.tables import dashboard_sessions
from tests.contract.builders import (
    T0,
    UowFactory,
    account,
    api_key,
    artist,
    count_rows,
    organization,
    task,
)


@dataclass
class Labels:
    """Carol belongs to Team (with Alice) and Label (with Dave); Eve is in Other only."""

    alice: Account
    carol: Account
    dave: Account
    eve: Account
    team: Organization
    label: Organization
    other: Organization
    carols: Artist
    team_artist: Artist
    label_artist: Artist
    other_artist: Artist


@pytest.fixture
def labels(uow: UowFactory) -> Labels:
    alice, carol = account("alice@example.com"), account("Carol@Example.com")
    dave, eve = account("dave@label.example"), account("eve@other.example")
    team, label, other = organization("Team"), organization("Label"), organization("Other")
    carols = artist(account_id=carol.id)
    team_artist, label_artist = artist(organization_id=team.id), artist(organization_id=label.id)
    other_artist = artist(organization_id=other.id)
    with uow(write=True) as u:
        for each in (alice, carol, dave, eve):
            u.accounts.add(each)
        for org in (team, label, other):
            u.accounts.add_organization(org)
        for org, member in ((team, alice), (team, carol), (label, carol), (label, dave)):
            u.accounts.add_member(org.id, member.id, T0)
        u.accounts.add_member(other.id, eve.id, T0)
        for one in (carols, team_artist, label_artist, other_artist):
            u.accounts.add_artist(one)
        u.commit()
    return Labels(
        alice, carol, dave, eve, team, label, other, carols, team_artist, label_artist, other_artist
    )


def test_shared_organizations(uow: UowFactory, labels: Labels) -> None:
    with uow() as u:
        assert u.accounts.shared_organizations(labels.alice.id, labels.carol.id) == [labels.team.id]
        assert u.accounts.shared_organizations(labels.carol.id, labels.alice.id) == [labels.team.id]
        assert u.accounts.shared_organizations(labels.alice.id, labels.dave.id) == []
        assert u.accounts.shared_organizations(labels.alice.id, uuid4()) == []


def test_artist_usable_within_organizations(uow: UowFactory, labels: Labels) -> None:
    carol, team = labels.carol.id, [labels.team.id]
    with uow() as u:
        usable = u.accounts.artist_usable_by
        assert usable(labels.carols.id, carol, organizations=team) is True  # own
        assert usable(labels.team_artist.id, carol, organizations=team) is True
        assert usable(labels.label_artist.id, carol, organizations=team) is False
        assert usable(labels.label_artist.id, carol, organizations=None) is True  # full reach
        assert usable(labels.carols.id, carol, organizations=[]) is True
        assert usable(labels.team_artist.id, carol, organizations=[]) is False
        # An organization in scope that the account is not in gives nothing.
        other = [labels.other.id]
        assert usable(labels.other_artist.id, carol, organizations=other) is False


def test_team_emails_within_organizations(uow: UowFactory, labels: Labels) -> None:
    carol = labels.carol.id
    with uow() as u:
        everyone = {"carol@example.com", "alice@example.com", "dave@label.example"}
        assert u.accounts.team_emails(carol) == everyone
        assert u.accounts.team_emails(carol, None) == everyone
        assert u.accounts.team_emails(carol, [labels.team.id]) == {
            "carol@example.com",
            "alice@example.com",
        }
        assert u.accounts.team_emails(carol, []) == {"carol@example.com"}
        # Only organizations the account is still in count.
        assert u.accounts.team_emails(carol, [labels.other.id]) == {"carol@example.com"}


def test_a_tasks_scope_round_trips(uow: UowFactory, labels: Labels) -> None:
    scoped = task(labels.carol.id, labels.carols.id, scope_organization_ids=(labels.team.id,))
    unscoped = task(labels.carol.id, labels.carols.id, created=1)
    nobody = task(labels.carol.id, labels.carols.id, created=2, scope_organization_ids=())
    with uow(write=True) as u:
        for each in (scoped, unscoped, nobody):
            u.tasks.add(each)
        u.commit()
    with uow() as u:
        assert u.tasks.get(scoped.id) == scoped
        assert u.tasks.get(unscoped.id) == unscoped
        assert u.tasks.get(nobody.id) == nobody
        assert u.tasks.list_for_account(labels.carol.id) == [nobody, unscoped, scoped]

    wider = replace(scoped, scope_organization_ids=(labels.team.id, labels.label.id))
    with uow(write=True) as u:
        u.tasks.update(wider)
        u.commit()
    with uow() as u:
        got = u.tasks.get(scoped.id)
        assert got is not None
        assert set(got.scope_organization_ids or ()) == {labels.team.id, labels.label.id}


def run_recipients(u: UnitOfWork, account_id: UUID, task_id: UUID | None) -> set[str]:
    """Whom a run of `account_id`'s task may email, as the worker reads it
    (WorkQueue.context): the task's recipient scope, then team_emails."""
    found = None if task_id is None else u.tasks.get(task_id)
    scope = [] if found is None else found.recipient_scope(account_id)
    return u.accounts.team_emails(account_id, scope)


def test_run_recipients(uow: UowFactory, labels: Labels) -> None:
    carol = labels.carol.id
    scoped = task(carol, labels.carols.id, scope_organization_ids=(labels.team.id,))
    unscoped = task(carol, labels.carols.id)
    with uow(write=True) as u:
        u.tasks.add(scoped)
        u.tasks.add(unscoped)
        u.commit()
    with uow() as u:
        assert run_recipients(u, carol, scoped.id) == {
            "carol@example.com",
            "alice@example.com",
        }
        assert run_recipients(u, carol, unscoped.id) == {
            "carol@example.com",
            "alice@example.com",
            "dave@label.example",
        }
        # No task (deleted, or never was): the owner alone.
        assert run_recipients(u, carol, None) == {"carol@example.com"}
        assert run_recipients(u, carol, uuid4()) == {"carol@example.com"}
        # Another account's task gives that account nothing extra.
        assert run_recipients(u, labels.dave.id, unscoped.id) == {"dave@label.example"}


# Dashboard sessions


def _key_of(uow: UowFactory, owner: Account) -> UUID:
    key = api_key(owner.id)
    with uow(write=True) as u:
        u.keys.add(key, uuid4().hex + uuid4().hex)
        u.commit()
    return key.id


def test_a_dashboard_session_lives_until_it_ends_or_expires(
    uow: UowFactory, labels: Labels
) -> None:
    key_id = _key_of(uow, labels.alice)
    first, second = uuid4(), uuid4()
    later = T0 + timedelta(hours=8)
    with uow(write=True) as u:
        u.keys.add_session(first, key_id, T0, later)
        u.keys.add_session(second, key_id, T0, later)
        u.commit()
    with uow() as u:
        assert u.keys.session_active(first, key_id, T0) is True
        assert u.keys.session_active(first, uuid4(), T0) is False  # another key
        assert u.keys.session_active(uuid4(), key_id, T0) is False  # never recorded
        assert u.keys.session_active(first, key_id, later) is False  # expired

    with uow(write=True) as u:
        assert u.keys.end_session(first, T0) is True
        assert u.keys.end_session(first, T0) is False  # already ended
        assert u.keys.end_session(uuid4(), T0) is False
        u.commit()
    with uow() as u:
        assert u.keys.session_active(first, key_id, T0) is False
        assert u.keys.session_active(second, key_id, T0) is True


def test_starting_a_session_removes_expired_ones(uow: UowFactory, labels: Labels) -> None:
    key_id = _key_of(uow, labels.alice)
    old, current = uuid4(), uuid4()
    with uow(write=True) as u:
        u.keys.add_session(old, key_id, T0, T0 + timedelta(hours=1))
        u.commit()
    with uow(write=True) as u:
        u.keys.add_session(current, key_id, T0 + timedelta(hours=2), T0 + timedelta(hours=3))
        u.commit()
    assert count_rows(uow, dashboard_sessions) == 1
    with uow() as u:
        assert u.keys.session_active(current, key_id, T0 + timedelta(hours=2)) is True
