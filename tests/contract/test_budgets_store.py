"""What budgets need from the store, on every backend: an account's monthly budget, and what
its runs created since an instant cost."""

from __future__ import annotations

from backbeat.domain.runs import RunStatus
from tests.contract.builders import T0, UowFactory, World, account, at, run


def test_a_monthly_budget_is_set_replaced_and_removed(uow: UowFactory, world: World) -> None:
    with uow(write=True) as u:
        assert u.accounts.monthly_budget(world.account.id) is None
        u.accounts.set_monthly_budget(world.account.id, 50.0, T0)
        u.commit()
    with uow(write=True) as u:
        assert u.accounts.monthly_budget(world.account.id) == 50.0
        u.accounts.set_monthly_budget(world.account.id, 12.5, T0)
        u.commit()
    with uow(write=True) as u:
        assert u.accounts.monthly_budget(world.account.id) == 12.5
        u.accounts.set_monthly_budget(world.account.id, None, T0)
        u.commit()
    with uow() as u:
        assert u.accounts.monthly_budget(world.account.id) is None


def test_cost_since_adds_up_the_accounts_runs_created_from_then(
    uow: UowFactory, world: World
) -> None:
    other = account("other@example.com")
    mine = [
        run(world.account.id, None, created=-10, cost_in_cents=100.0),  # before: not counted
        run(world.account.id, None, created=0, cost_in_cents=2.5, status=RunStatus.FAILED),
        run(world.account.id, None, created=30, cost_in_cents=0.125),
    ]
    theirs = run(other.id, None, created=5, cost_in_cents=7.0)
    with uow(write=True) as u:
        u.accounts.add(other)
        for each in [*mine, theirs]:
            u.runs.add(each)
        u.commit()
    with uow() as u:
        assert u.accounts.monthly_budget(other.id) is None
        assert u.runs.cost_since(world.account.id, at(0)) == 2.625
        assert u.runs.cost_since(world.account.id, at(-60)) == 102.625
        assert u.runs.cost_since(world.account.id, at(60)) == 0.0
        assert u.runs.cost_since(other.id, at(0)) == 7.0
