"""AccountRepository and KeyRepository contracts, on every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from tests.contract.builders import (
    T0,
    UowFactory,
    account,
    api_key,
    artist,
    assert_utc,
    at,
    organization,
)

KOLKATA = timezone(timedelta(hours=5, minutes=30))

# Accounts


def test_account_round_trips_every_field(uow: UowFactory) -> None:
    created = T0.astimezone(KOLKATA)  # same instant, another zone
    full = account("ada@example.com", name="Ada Lovelace")
    full = type(full)(id=full.id, email=full.email, name=full.name, created_at=created)
    bare = account(None, name=None)
    with uow(write=True) as u:
        u.accounts.add(full)
        u.accounts.add(bare)
        u.commit()

    with uow() as u:
        got_full, got_bare = u.accounts.get(full.id), u.accounts.get(bare.id)

    assert got_full == full
    assert got_bare == bare
    assert got_full is not None
    assert got_full.created_at == T0
    assert_utc(got_full)
    assert_utc(got_bare)


def test_account_lookups_answer_none_for_strangers(uow: UowFactory) -> None:
    with uow() as u:
        assert u.accounts.get(uuid4()) is None
        assert u.accounts.get_by_email("nobody@example.com") is None


def test_get_by_email(uow: UowFactory) -> None:
    ada, bob = account("ada@example.com"), account("bob@example.com")
    with uow(write=True) as u:
        u.accounts.add(ada)
        u.accounts.add(bob)
        assert u.accounts.get_by_email("ada@example.com") == ada
        assert u.accounts.get_by_email("bob@example.com") == bob


def test_account_email_is_unique(uow: UowFactory, refused: type[Exception]) -> None:
    with uow(write=True) as u:
        u.accounts.add(account("ada@example.com"))
        u.commit()
    with uow(write=True) as u, pytest.raises(refused):
        u.accounts.add(account("ada@example.com"))


def test_many_accounts_may_have_no_email(uow: UowFactory) -> None:
    first, second = account(None), account(None)
    with uow(write=True) as u:
        u.accounts.add(first)
        u.accounts.add(second)
        assert u.accounts.get(first.id) == first
        assert u.accounts.get(second.id) == second


def test_emails(uow: UowFactory) -> None:
    ada, anonymous = account("ada@example.com"), account(None)
    stranger = uuid4()
    with uow(write=True) as u:
        u.accounts.add(ada)
        u.accounts.add(anonymous)
        found = u.accounts.emails(iter([ada.id, anonymous.id, stranger, ada.id]))
        assert u.accounts.emails([]) == {}

    assert found == {ada.id: "ada@example.com", anonymous.id: None}


# Organizations and membership


def test_organization_round_trips(uow: UowFactory) -> None:
    plain = organization("Label", is_admin=False)
    admin = organization("Operators", is_admin=True, created=1.5)
    with uow(write=True) as u:
        u.accounts.add_organization(plain)
        u.accounts.add_organization(admin)
        u.commit()
    with uow() as u:
        assert u.accounts.get_organization(plain.id) == plain
        assert u.accounts.get_organization(admin.id) == admin
        assert u.accounts.get_organization(uuid4()) is None


def test_add_member_is_idempotent(uow: UowFactory) -> None:
    ada, label = account("ada@example.com"), organization()
    with uow(write=True) as u:
        u.accounts.add(ada)
        u.accounts.add_organization(label)
        assert u.accounts.add_member(label.id, ada.id, T0) is True
        u.commit()
    with uow(write=True) as u:
        assert u.accounts.add_member(label.id, ada.id, at(60)) is False
        assert u.accounts.organizations_of(ada.id) == [label]


def test_organizations_of(uow: UowFactory) -> None:
    ada, bob = account("ada@example.com"), account("bob@example.com")
    first, second, theirs = organization("one"), organization("two", created=1), organization()
    with uow(write=True) as u:
        for member in (ada, bob):
            u.accounts.add(member)
        for org in (first, second, theirs):
            u.accounts.add_organization(org)
        u.accounts.add_member(first.id, ada.id, T0)
        u.accounts.add_member(second.id, ada.id, T0)
        u.accounts.add_member(theirs.id, bob.id, T0)
        u.commit()
    with uow() as u:
        assert {org.id for org in u.accounts.organizations_of(ada.id)} == {first.id, second.id}
        assert u.accounts.organizations_of(bob.id) == [theirs]
        assert u.accounts.organizations_of(uuid4()) == []


def test_share_an_organization(uow: UowFactory) -> None:
    ada, bob, cy, loner = (account(f"{n}@example.com") for n in ("ada", "bob", "cy", "loner"))
    label, other = organization(), organization()
    with uow(write=True) as u:
        for member in (ada, bob, cy, loner):
            u.accounts.add(member)
        u.accounts.add_organization(label)
        u.accounts.add_organization(other)
        u.accounts.add_member(label.id, ada.id, T0)
        u.accounts.add_member(label.id, bob.id, T0)
        u.accounts.add_member(other.id, cy.id, T0)
        u.commit()
    with uow() as u:
        assert u.accounts.share_an_organization(ada.id, bob.id) is True
        assert u.accounts.share_an_organization(bob.id, ada.id) is True
        assert u.accounts.share_an_organization(ada.id, cy.id) is False
        assert u.accounts.share_an_organization(ada.id, loner.id) is False
        assert u.accounts.share_an_organization(loner.id, uuid4()) is False


# Artists


def test_artist_round_trips_with_json_profile(uow: UowFactory) -> None:
    owner, label = account("ada@example.com"), organization()
    profile = {
        "genres": ["jazz", "électro", "日本"],
        "followers": 12345,
        "score": 0.25,
        "verified": True,
        "manager": None,
        "links": {"spotify": {"id": "abc"}, "empty": {}},
    }
    own = artist(account_id=owner.id, profile=profile)
    labels = artist(organization_id=label.id)
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.accounts.add_organization(label)
        u.accounts.add_artist(own)
        u.accounts.add_artist(labels)
        u.commit()
    with uow() as u:
        assert u.accounts.get_artist(own.id) == own
        assert u.accounts.get_artist(labels.id) == labels
        assert u.accounts.get_artist(uuid4()) is None


def test_artist_names_in_one_query(uow: UowFactory) -> None:
    owner = account("names@example.com")
    first, second = artist(account_id=owner.id), artist(account_id=owner.id)
    second = dataclasses.replace(second, name="Nova")
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.accounts.add_artist(first)
        u.accounts.add_artist(second)
        u.commit()
    with uow() as u:
        unknown = uuid4()
        assert u.accounts.artist_names([first.id, second.id, second.id, unknown]) == {
            first.id: "Artist",
            second.id: "Nova",
        }
        assert u.accounts.artist_names([]) == {}


def test_an_artist_needs_an_owner(uow: UowFactory, refused: type[Exception]) -> None:
    with uow(write=True) as u, pytest.raises(refused):
        u.accounts.add_artist(artist())


def test_artist_usable_by(uow: UowFactory) -> None:
    ada, bob = account("ada@example.com"), account("bob@example.com")
    label, other_label = organization(), organization()
    adas = artist(account_id=ada.id)
    bobs = artist(account_id=bob.id)
    labels = artist(organization_id=label.id)
    other_labels = artist(organization_id=other_label.id)
    with uow(write=True) as u:
        u.accounts.add(ada)
        u.accounts.add(bob)
        u.accounts.add_organization(label)
        u.accounts.add_organization(other_label)
        u.accounts.add_member(label.id, ada.id, T0)
        for each in (adas, bobs, labels, other_labels):
            u.accounts.add_artist(each)
        u.commit()
    with uow() as u:
        assert u.accounts.artist_usable_by(adas.id, ada.id) is True  # own
        assert u.accounts.artist_usable_by(labels.id, ada.id) is True  # an organization's
        assert u.accounts.artist_usable_by(bobs.id, ada.id) is False  # another account's
        assert u.accounts.artist_usable_by(other_labels.id, ada.id) is False  # not a member
        assert u.accounts.artist_usable_by(labels.id, bob.id) is False
        assert u.accounts.artist_usable_by(uuid4(), ada.id) is False  # unknown


# API keys


def test_key_round_trips_and_is_found_by_hash(uow: UowFactory) -> None:
    owner = account("ada@example.com")
    new_york = ZoneInfo("America/New_York")
    full = api_key(
        owner.id,
        created_at=T0.astimezone(new_york),
        expires_at=(T0 + timedelta(days=30, microseconds=1)).astimezone(KOLKATA),
        revoked_at=T0 + timedelta(days=2, microseconds=999999),
    )
    bare = api_key(owner.id, name=None, hint="bb_zzzz")
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.keys.add(full, "a" * 64)
        u.keys.add(bare, "b" * 64)
        u.commit()
    with uow() as u:
        got = u.keys.get(full.id)
        assert got == full
        assert got is not None
        assert_utc(got)
        assert u.keys.get(bare.id) == bare
        assert u.keys.find("a" * 64) == (full, "a" * 64)
        assert u.keys.find("b" * 64) == (bare, "b" * 64)
        assert u.keys.find("c" * 64) is None
        assert u.keys.get(uuid4()) is None


def test_key_hash_is_unique(uow: UowFactory, refused: type[Exception]) -> None:
    owner = account("ada@example.com")
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.keys.add(api_key(owner.id), "a" * 64)
        u.commit()
    with uow(write=True) as u, pytest.raises(refused):
        u.keys.add(api_key(owner.id), "a" * 64)


def test_revoke(uow: UowFactory) -> None:
    owner = account("ada@example.com")
    key = api_key(owner.id)
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.keys.add(key, "a" * 64)
        u.commit()
    revoked_at = T0 + timedelta(hours=1, microseconds=42)
    with uow(write=True) as u:
        assert u.keys.revoke(key.id, revoked_at.astimezone(KOLKATA)) is True
        u.commit()
    with uow(write=True) as u:
        assert u.keys.revoke(key.id, revoked_at + timedelta(days=1)) is False  # already revoked
        assert u.keys.revoke(uuid4(), revoked_at) is False  # unknown
        u.commit()
    with uow() as u:
        got = u.keys.get(key.id)
    assert got is not None
    assert got.revoked_at == revoked_at  # the first revocation stands
    assert not got.usable_at(revoked_at)


def test_keys_list_newest_first_ties_broken_by_id(uow: UowFactory) -> None:
    owner, other = account("ada@example.com"), account("bob@example.com")
    keys = [api_key(owner.id, created=seconds) for seconds in (0, 5, 5, 5, 10)]
    with uow(write=True) as u:
        u.accounts.add(owner)
        u.accounts.add(other)
        for number, key in enumerate(keys):
            u.keys.add(key, f"{number:064d}")
        u.keys.add(api_key(other.id), "f" * 64)
        u.commit()
    with uow() as u:
        listed = u.keys.list_for_account(owner.id)
        assert u.keys.list_for_account(uuid4()) == []

    assert listed == sorted(keys, key=lambda key: (key.created_at, key.id), reverse=True)
