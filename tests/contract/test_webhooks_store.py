"""WebhookRepository contracts (an account's webhook endpoints), on every backend."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta, timezone
from uuid import uuid4

import pytest
from sqlalchemy import Engine, text

from backbeat.domain.webhooks import ALL_EVENTS, EventType
from backbeat.store.tables import webhook_endpoints
from tests.contract.builders import (
    UowFactory,
    World,
    account,
    assert_utc,
    at,
    count_rows,
    endpoint,
    sql_only,
)

EAST = timezone(timedelta(hours=2))


def test_every_field_comes_back_as_stored(uow: UowFactory, world: World) -> None:
    plain = endpoint(world.account.id, events=(EventType.RUN_CANCELED,))
    full = endpoint(
        world.account.id,
        url="http://127.0.0.1:8080/hook",
        # In the order given, not the enum's: the subscription reads back as it was written.
        events=(EventType.RUN_CANCELED, EventType.RUN_COMPLETED, EventType.RUN_FAILED),
        secret="sealed:new",
        created_at=at(1).astimezone(EAST),  # any zone in, UTC out
        updated_at=at(7),
        previous_secret="sealed:old",
        previous_secret_until=at(86_400),
        failing_since=at(2),
        disabled_at=at(3),
        disabled_reason="every delivery failed for 3 days",
    )
    with uow(write=True) as u:
        u.webhooks.add(plain)
        u.webhooks.add(full)
        assert u.webhooks.get(full.id) == full  # the transaction sees its own writes
        u.commit()
    with uow() as u:
        assert u.webhooks.get(plain.id) == plain
        found = u.webhooks.get(full.id, for_update=True)
        assert found == full
        assert found is not None
        assert found.events == full.events
        assert not found.enabled
        assert_utc(found)
        assert u.webhooks.get("whep_none") is None


def test_save_replaces_every_field(uow: UowFactory, world: World) -> None:
    original = endpoint(world.account.id, events=ALL_EVENTS)
    with uow(write=True) as u:
        u.webhooks.add(original)
        u.commit()

    rotated = replace(
        original,
        url="https://hooks.example.com/v2",
        events=(EventType.RUN_FAILED,),
        secret="sealed:new",
        previous_secret="sealed:current",
        previous_secret_until=at(86_400),
        failing_since=at(10),
        disabled_at=at(20).astimezone(EAST),
        disabled_reason="every delivery failed for 3 days",
        updated_at=at(20),
    )
    with uow(write=True) as u:
        u.webhooks.save(rotated)
        u.commit()
    with uow() as u:
        assert u.webhooks.get(original.id) == rotated

    cleared = replace(  # enabled again, the rotation's overlap over
        rotated,
        previous_secret=None,
        previous_secret_until=None,
        failing_since=None,
        disabled_at=None,
        disabled_reason=None,
        updated_at=at(30),
    )
    with uow(write=True) as u:
        u.webhooks.save(cleared)
        u.webhooks.save(endpoint(world.account.id))  # no such endpoint: nothing happens
        u.commit()
    with uow() as u:
        assert u.webhooks.get(original.id) == cleared
        assert u.webhooks.of_account(world.account.id) == [cleared]


def test_the_id_is_unique_and_the_account_must_exist(
    uow: UowFactory, world: World, refused: type[Exception]
) -> None:
    first = endpoint(world.account.id)
    with uow(write=True) as u:
        u.webhooks.add(first)
        u.commit()
    with uow(write=True) as u, pytest.raises(refused):
        u.webhooks.add(endpoint(world.account.id, id=first.id, url="https://other.example.com"))
    with uow(write=True) as u, pytest.raises(refused):
        u.webhooks.add(endpoint(uuid4()))
    with uow(write=True) as u, pytest.raises(refused):
        u.webhooks.save(replace(first, account_id=uuid4()))
    with uow() as u:
        assert u.webhooks.get(first.id) == first
        assert u.webhooks.of_account(world.account.id) == [first]


def test_an_accounts_endpoints_oldest_first(uow: UowFactory, world: World) -> None:
    other = account("other@example.com")
    newest = endpoint(world.account.id, created=30)
    oldest = endpoint(world.account.id, created=-30)
    twins = sorted(
        (endpoint(world.account.id, created=0) for _ in range(3)), key=lambda each: each.id
    )
    theirs = endpoint(other.id, created=-60)
    with uow(write=True) as u:
        u.accounts.add(other)
        for each in (newest, twins[2], theirs, oldest, twins[0], twins[1]):
            u.webhooks.add(each)
        u.commit()
    with uow() as u:
        assert u.webhooks.of_account(world.account.id) == [oldest, *twins, newest]
        assert u.webhooks.of_account(other.id) == [theirs]
        assert u.webhooks.of_account(uuid4()) == []


def test_delete(uow: UowFactory, world: World) -> None:
    kept, gone = endpoint(world.account.id, created=1), endpoint(world.account.id, created=2)
    with uow(write=True) as u:
        u.webhooks.add(kept)
        u.webhooks.add(gone)
        u.commit()
    with uow(write=True) as u:
        u.webhooks.delete(gone.id)
        u.webhooks.delete("whep_none")  # nothing to delete: nothing happens
        assert u.webhooks.get(gone.id) is None
    with uow() as u:
        assert u.webhooks.get(gone.id) == gone  # not committed: still there
    with uow(write=True) as u:
        u.webhooks.delete(gone.id)
        u.commit()
    with uow() as u:
        assert u.webhooks.get(gone.id) is None
        assert u.webhooks.of_account(world.account.id) == [kept]


@sql_only  # the database's ON DELETE CASCADE: Backbeat itself never deletes an account
def test_endpoints_go_with_their_account(uow: UowFactory, world: World, engine: Engine) -> None:
    gone = account("gone@example.com")
    theirs = [endpoint(gone.id, created=n) for n in range(2)]
    kept = endpoint(world.account.id)
    with uow(write=True) as u:
        u.accounts.add(gone)
        for each in (*theirs, kept):
            u.webhooks.add(each)
        u.commit()
    assert count_rows(uow, webhook_endpoints) == 3
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM accounts WHERE id = :id"),
            {"id": gone.id.hex if connection.dialect.name == "sqlite" else gone.id},
        )
    with uow() as u:
        assert u.webhooks.of_account(gone.id) == []
        assert u.webhooks.get(theirs[0].id) is None
        assert u.webhooks.of_account(world.account.id) == [kept]
    assert count_rows(uow, webhook_endpoints) == 1
