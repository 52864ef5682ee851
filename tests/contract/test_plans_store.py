"""What plans need from the store, on every backend: an account's plan, the owner's
enabled-task count, each task's place among its owner's enabled tasks, and task titles."""

from __future__ import annotations

from uuid import uuid4

from sqlalchemy import Engine, text

from backbeat.domain.plans import DEFAULTS, Entitlements, Plan, entitlements
from tests.contract.builders import T0, UowFactory, World, account, artist, sql_only, task


def test_no_account_has_a_plan_until_one_is_set(uow: UowFactory, world: World) -> None:
    other = account("other@example.com")
    with uow(write=True) as u:
        u.accounts.add(other)
        assert u.accounts.plan(world.account.id) is None
        assert u.accounts.plans([world.account.id, other.id]) == {}
        u.accounts.set_plan(world.account.id, DEFAULTS[Plan.FREE], T0)
        u.accounts.set_plan(other.id, entitlements(Plan.PRO, task_limit=7), T0)
        u.commit()

    with uow() as u:
        assert u.accounts.plan(world.account.id) == Entitlements(Plan.FREE, 1, 10_080)
        assert u.accounts.plans([world.account.id, other.id, uuid4()]) == {
            world.account.id: Entitlements(Plan.FREE, 1, 10_080),
            other.id: Entitlements(Plan.PRO, 7, 60),
        }


def test_setting_again_replaces_and_none_clears(uow: UowFactory, world: World) -> None:
    with uow(write=True) as u:
        u.accounts.set_plan(world.account.id, DEFAULTS[Plan.FREE], T0)
        u.accounts.set_plan(world.account.id, DEFAULTS[Plan.PRO], T0)
        u.commit()
    with uow() as u:
        assert u.accounts.plan(world.account.id) == Entitlements(Plan.PRO, None, 60)

    with uow(write=True) as u:
        u.accounts.set_plan(world.account.id, None, T0)
        u.accounts.set_plan(world.account.id, None, T0)  # clearing twice is fine
        u.commit()
    with uow() as u:
        assert u.accounts.plan(world.account.id) is None


def test_counting_and_ranking_enabled_tasks(uow: UowFactory, world: World) -> None:
    other = account("other@example.com")
    their_artist = artist(account_id=other.id)
    oldest = task(world.account.id, world.artist.id, created=0, enabled=None)
    paused = task(world.account.id, world.artist.id, created=1, enabled=False)
    middle = task(world.account.id, world.artist.id, created=2, enabled=True)
    newest = task(world.account.id, world.artist.id, created=3)
    theirs = task(other.id, their_artist.id, created=-5)
    with uow(write=True) as u:
        u.accounts.add(other)
        u.accounts.add_artist(their_artist)
        for each in (oldest, paused, middle, newest, theirs):
            u.tasks.add(each)
        u.commit()

    with uow() as u:
        assert u.tasks.count_active(world.account.id) == 3
        assert u.tasks.count_active(world.account.id, excluding=middle.id) == 2
        assert u.tasks.count_active(world.account.id, excluding=paused.id) == 3
        assert u.tasks.count_active(other.id) == 1
        ids = [newest.id, oldest.id, middle.id, paused.id, theirs.id, uuid4()]
        ranks = u.tasks.active_before(ids)
        assert ranks == {oldest.id: 0, middle.id: 1, newest.id: 2, theirs.id: 0}
        assert u.tasks.active_before([]) == {}


def test_tasks_created_at_the_same_instant_still_rank_apart(uow: UowFactory, world: World) -> None:
    twins = [task(world.account.id, world.artist.id, created=0) for _ in range(3)]
    with uow(write=True) as u:
        for each in twins:
            u.tasks.add(each)
        u.commit()

    with uow() as u:
        ranks = u.tasks.active_before([each.id for each in twins])
    assert sorted(ranks.values()) == [0, 1, 2]


def test_titles_of_tasks(uow: UowFactory, world: World) -> None:
    one = task(world.account.id, world.artist.id, title="One")
    two = task(world.account.id, world.artist.id, title="Two")
    with uow(write=True) as u:
        u.tasks.add(one)
        u.tasks.add(two)
        u.commit()

    with uow() as u:
        assert u.tasks.titles([one.id, two.id, uuid4(), one.id]) == {one.id: "One", two.id: "Two"}
        assert u.tasks.titles([]) == {}


@sql_only  # the database's ON DELETE CASCADE: Backbeat itself never deletes an account
def test_a_plan_goes_with_its_account(uow: UowFactory, engine: Engine) -> None:
    gone = account("gone@example.com")
    with uow(write=True) as u:
        u.accounts.add(gone)
        u.accounts.set_plan(gone.id, DEFAULTS[Plan.STARTER], T0)
        u.commit()
    with engine.begin() as connection:
        connection.execute(  # accounts are never deleted by Backbeat; the database cascades
            text("DELETE FROM accounts WHERE id = :id"),
            {"id": gone.id.hex if connection.dialect.name == "sqlite" else gone.id},
        )
    with uow() as u:
        assert u.accounts.plan(gone.id) is None
