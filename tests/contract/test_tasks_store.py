"""TaskRepository contracts, on every backend."""

from __future__ import annotations

import dataclasses
from datetime import timedelta, timezone
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine

from backbeat.domain.agent_settings import AgentSettings
from backbeat.domain.errors import DatabaseUnavailable
from backbeat.domain.models import Task
from backbeat.store.uow import SqlUnitOfWork
from tests.contract.builders import T0, UowFactory, World, account, artist, assert_utc, run, task
from tests.databases import engine_with

TOKYO = ZoneInfo("Asia/Tokyo")


def full_task(world: World) -> Task:
    """A task with every optional field set, and instants in other zones."""
    return task(
        world.account.id,
        world.artist.id,
        title="Weekly Genre Pulse — ünïcode",
        prompt="Analyse the week.\nThen email the team.",
        schedule="*/15 9-17 * * 1-5",
        timezone="Asia/Tokyo",
        enabled=True,
        model="claude-sonnet",
        misfire_grace_seconds=300,
        max_attempts=7,
        created_at=T0.astimezone(TOKYO),
        updated_at=(T0 + timedelta(microseconds=1)).astimezone(timezone(-timedelta(hours=3))),
        next_fire_at=(T0 + timedelta(days=3, microseconds=654321)).astimezone(TOKYO),
    )


def test_task_round_trips_every_field(uow: UowFactory, world: World) -> None:
    full = full_task(world)
    bare = task(world.account.id, world.artist.id)  # every nullable field NULL
    with uow(write=True) as u:
        u.tasks.add(full)
        u.tasks.add(bare)
        u.commit()
    with uow() as u:
        got_full, got_bare = u.tasks.get(full.id), u.tasks.get(bare.id)

    assert got_full == full
    assert got_bare == bare
    assert got_full is not None
    assert got_bare is not None
    assert_utc(got_full)
    assert_utc(got_bare)
    assert got_bare.enabled is None
    assert got_bare.next_fire_at is None


@pytest.mark.parametrize("enabled", [None, True, False])
def test_enabled_round_trips_all_three_states(
    uow: UowFactory, world: World, enabled: bool | None
) -> None:
    item = task(world.account.id, world.artist.id, enabled=enabled)
    with uow(write=True) as u:
        u.tasks.add(item)
        u.commit()
    with uow() as u:
        got = u.tasks.get(item.id)
    assert got is not None
    assert got.enabled is enabled


def test_get_unknown_task(uow: UowFactory) -> None:
    with uow() as u:
        assert u.tasks.get(uuid4()) is None
        assert u.tasks.get(uuid4(), for_update=True) is None


def test_get_for_update_locks_the_row_until_the_transaction_ends(
    backend: str, uow: UowFactory, world: World, request: pytest.FixtureRequest
) -> None:
    item = task(world.account.id, world.artist.id)
    with uow(write=True) as u:
        u.tasks.add(item)
        u.commit()

    with uow(write=True) as holder:
        assert holder.tasks.get(item.id, for_update=True) == item
        if backend == "postgresql":  # SQLite and the memory store serialize writers instead
            engine: Engine = request.getfixturevalue("engine")
            with (
                engine_with(engine, "SET lock_timeout = '50ms'") as waits_50ms,
                SqlUnitOfWork(waits_50ms) as other,
            ):
                assert other.tasks.get(item.id) == item  # plain reads don't wait
                with pytest.raises(DatabaseUnavailable, match="lock"):
                    other.tasks.get(item.id, for_update=True)

    with uow(write=True) as u:  # released when the holder's transaction ended
        assert u.tasks.get(item.id, for_update=True) == item


def test_update_changes_every_field_of_that_task_only(uow: UowFactory, world: World) -> None:
    item, bystander = (
        task(world.account.id, world.artist.id),
        task(world.account.id, world.artist.id),
    )
    other_artist = artist(account_id=world.account.id)
    with uow(write=True) as u:
        u.accounts.add_artist(other_artist)
        u.tasks.add(item)
        u.tasks.add(bystander)
        u.commit()

    changed = dataclasses.replace(
        full_task(world), id=item.id, artist_account_id=other_artist.id, enabled=False
    )
    with uow(write=True) as u:
        u.tasks.update(changed)
        u.commit()
    with uow() as u:
        assert u.tasks.get(item.id) == changed
        assert u.tasks.get(bystander.id) == bystander

    cleared = dataclasses.replace(
        changed, enabled=None, model=None, next_fire_at=None, max_attempts=None
    )
    with uow(write=True) as u:
        u.tasks.update(cleared)
        u.commit()
    with uow() as u:
        assert u.tasks.get(item.id) == cleared


def test_delete_keeps_the_runs_with_task_id_null(uow: UowFactory, world: World) -> None:
    item, bystander = (
        task(world.account.id, world.artist.id),
        task(world.account.id, world.artist.id),
    )
    orphan, kept = run(world.account.id, item.id), run(world.account.id, bystander.id)
    with uow(write=True) as u:
        u.tasks.add(item)
        u.tasks.add(bystander)
        assert u.runs.add(orphan)
        assert u.runs.add(kept)
        u.commit()

    with uow(write=True) as u:
        assert u.tasks.delete(item.id) is True
        u.commit()
    with uow(write=True) as u:
        assert u.tasks.delete(item.id) is False
        assert u.tasks.delete(uuid4()) is False
        assert u.tasks.get(item.id) is None
        assert u.tasks.get(bystander.id) == bystander
        assert u.runs.get(orphan.id) == dataclasses.replace(orphan, task_id=None)
        assert u.runs.get(kept.id) == kept


def test_list_for_account_only_lists_that_account(uow: UowFactory, world: World) -> None:
    stranger = account("stranger@example.com")
    strangers_artist = artist(account_id=stranger.id)
    mine = task(world.account.id, world.artist.id)
    with uow(write=True) as u:
        u.accounts.add(stranger)
        u.accounts.add_artist(strangers_artist)
        u.tasks.add(mine)
        u.tasks.add(task(stranger.id, strangers_artist.id))
        u.commit()
    with uow() as u:
        assert u.tasks.list_for_account(world.account.id) == [mine]
        assert u.tasks.list_for_account(uuid4()) == []


def test_list_for_account_filters(uow: UowFactory, world: World) -> None:
    second_artist = artist(account_id=world.account.id)
    unset = task(world.account.id, world.artist.id, created=1, enabled=None)
    on = task(world.account.id, world.artist.id, created=2, enabled=True)
    off = task(world.account.id, second_artist.id, created=3, enabled=False)
    on_second = task(world.account.id, second_artist.id, created=4, enabled=True)
    with uow(write=True) as u:
        u.accounts.add_artist(second_artist)
        for item in (unset, on, off, on_second):
            u.tasks.add(item)
        u.commit()

    mine = world.account.id
    with uow() as u:
        assert u.tasks.list_for_account(mine) == [on_second, off, on, unset]
        assert u.tasks.list_for_account(mine, task_id=off.id) == [off]
        assert u.tasks.list_for_account(mine, task_id=uuid4()) == []
        assert u.tasks.list_for_account(mine, artist_account_id=world.artist.id) == [on, unset]
        assert u.tasks.list_for_account(mine, artist_account_id=second_artist.id) == [
            on_second,
            off,
        ]
        # NULL means "no override", which counts as enabled.
        assert u.tasks.list_for_account(mine, enabled=True) == [on_second, on, unset]
        assert u.tasks.list_for_account(mine, enabled=False) == [off]
        assert u.tasks.list_for_account(mine, artist_account_id=second_artist.id, enabled=True) == [
            on_second
        ]
        assert u.tasks.list_for_account(mine, task_id=on.id, enabled=False) == []


def test_list_for_account_newest_first_ties_broken_by_id(uow: UowFactory, world: World) -> None:
    items = [task(world.account.id, world.artist.id, created=s) for s in (0, 7, 7, 7, 7, 9)]
    with uow(write=True) as u:
        for item in items:
            u.tasks.add(item)
        u.commit()
    with uow() as u:
        listed = u.tasks.list_for_account(world.account.id)

    assert listed == sorted(items, key=lambda item: (item.created_at, item.id), reverse=True)


def test_list_for_account_pages_by_position(uow: UowFactory, world: World) -> None:
    items = [task(world.account.id, world.artist.id, created=s) for s in (0, 7, 7, 7, 7, 9)]
    with uow(write=True) as u:
        for item in items:
            u.tasks.add(item)
        u.commit()
    newest_first = sorted(items, key=lambda item: (item.created_at, item.id), reverse=True)
    pages: list[list[Task]] = []
    before = None
    with uow() as u:
        while page := u.tasks.list_for_account(world.account.id, limit=2, before=before):
            pages.append(page)
            before = (page[-1].created_at, page[-1].id)  # ties at 7 s: the id goes on

    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:6]]


def test_agent_settings_are_kept(uow: UowFactory, world: World) -> None:
    settings = AgentSettings(("read_artist_profile", "charts/top"), 0.5, 2000, 30.0)
    kept = task(world.account.id, world.artist.id, agent=settings)
    default = task(world.account.id, world.artist.id)
    none = task(world.account.id, world.artist.id, agent=AgentSettings(tools=()))
    with uow(write=True) as u:
        for each in (kept, default, none):
            u.tasks.add(each)
        u.commit()
    with uow() as u:
        assert u.tasks.get(kept.id) == kept
        assert u.tasks.get(default.id) == default
        assert u.tasks.get(none.id) == none  # no tools is not the default
