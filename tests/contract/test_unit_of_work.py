"""The unit of work's transaction, and the UTCDateTime column type, on every backend."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import StatementError

from backbeat.domain.models import Account
from backbeat.domain.ports import UnitOfWork
from backbeat.store.uow import SqlUnitOfWork
from tests.contract.builders import UowFactory, World, account, run, sql_only, task


@sql_only  # the SQL store's class (memory_store.py checks its own the same way)
def test_the_sql_unit_of_work_is_a_unit_of_work(engine: Engine) -> None:
    uow: UnitOfWork = SqlUnitOfWork(engine)  # checked by mypy
    with uow as entered:
        assert entered is uow


def test_committed_work_is_visible_to_others(uow: UowFactory) -> None:
    ada = account("ada@example.com")
    with uow(write=True) as writer:
        writer.accounts.add(ada)
        with uow() as reader:
            assert reader.accounts.get(ada.id) is None  # not until commit
        writer.commit()
    with uow() as reader:
        assert reader.accounts.get(ada.id) == ada


def test_leaving_without_commit_rolls_back(uow: UowFactory, world: World) -> None:
    ada = account("ada@example.com")
    item = task(world.account.id, world.artist.id)
    with uow(write=True) as u:
        u.accounts.add(ada)
        u.tasks.add(item)
        u.runs.add(run(world.account.id, item.id))
        assert u.accounts.get(ada.id) == ada  # the transaction sees its own writes
    with uow() as u:
        assert u.accounts.get(ada.id) is None
        assert u.tasks.get(item.id) is None
        assert u.runs.list_for_account(world.account.id, limit=10) == []


def test_an_exception_inside_the_block_rolls_back(uow: UowFactory) -> None:
    ada = account("ada@example.com")

    def add_then_fail() -> None:
        with uow(write=True) as u:
            u.accounts.add(ada)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        add_then_fail()
    with uow() as u:
        assert u.accounts.get(ada.id) is None


def test_rollback_discards_and_the_unit_of_work_goes_on(uow: UowFactory) -> None:
    discarded, kept = account("gone@example.com"), account("kept@example.com")
    with uow(write=True) as u:
        u.accounts.add(discarded)
        u.rollback()
        assert u.accounts.get(discarded.id) is None
        u.accounts.add(kept)
        u.commit()
    with uow() as u:
        assert u.accounts.get(discarded.id) is None
        assert u.accounts.get(kept.id) == kept


def test_work_after_a_commit_needs_its_own_commit(uow: UowFactory) -> None:
    first, second = account("first@example.com"), account("second@example.com")
    with uow(write=True) as u:
        u.accounts.add(first)
        u.commit()
        u.accounts.add(second)
    with uow() as u:
        assert u.accounts.get(first.id) == first
        assert u.accounts.get(second.id) is None


def test_a_failed_statement_does_not_commit_the_rest(
    uow: UowFactory, refused: type[Exception]
) -> None:
    ada = account("ada@example.com")

    def add_both() -> None:
        with uow(write=True) as u:
            u.accounts.add(ada)
            u.accounts.add(account("ada@example.com"))  # duplicate email
            u.commit()

    with pytest.raises(refused):
        add_both()
    with uow() as u:
        assert u.accounts.get(ada.id) is None


@sql_only  # the column type's refusal, wrapped by SQLAlchemy (the memory store's: below)
def test_naive_datetimes_are_refused(uow: UowFactory, world: World) -> None:
    naive = datetime(2026, 1, 5, 12, 0)  # naive on purpose
    with uow(write=True) as u:
        with pytest.raises(StatementError) as refused:
            u.accounts.add(Account(id=world.account.id, email=None, name=None, created_at=naive))
        assert isinstance(refused.value.orig, ValueError)
        assert "naive datetime" in str(refused.value.orig)
    with uow() as u:
        with pytest.raises(StatementError, match="naive datetime"):
            u.runs.list_for_account(world.account.id, limit=1, before=(naive, "run_x"))
        with pytest.raises(StatementError, match="naive datetime"):
            u.keys.revoke(world.account.id, naive)


@pytest.mark.parametrize("backend", ["memory"], indirect=True)
def test_the_memory_store_refuses_naive_datetimes_too(uow: UowFactory, world: World) -> None:
    naive = datetime(2026, 1, 5, 12, 0)  # naive on purpose
    with uow(write=True) as u, pytest.raises(ValueError, match="naive datetime"):
        u.accounts.add(Account(id=world.account.id, email=None, name=None, created_at=naive))
    with uow() as u:
        with pytest.raises(ValueError, match="naive datetime"):
            u.runs.list_for_account(world.account.id, limit=1, before=(naive, "run_x"))
        with pytest.raises(ValueError, match="naive datetime"):
            u.keys.revoke(world.account.id, naive)
