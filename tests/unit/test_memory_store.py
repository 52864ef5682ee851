"""The in-memory store's own mechanics, beyond the contracts it shares with the SQL store
(tests/contract runs those on it): writers take turns, a reader turned writer on an old
state is refused, and rows handed out are the caller's to change."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from backbeat.domain.errors import ConcurrentChange
from backbeat.domain.models import Account, Artist
from backbeat.testing.memory_store import MemoryStore

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def account(email: str) -> Account:
    return Account(id=uuid4(), email=email, name=None, created_at=T0)


def test_a_writer_waits_for_the_one_before_it_to_end() -> None:
    store = MemoryStore()
    ada, bob = account("ada@example.com"), account("bob@example.com")
    order: list[str] = []
    second_tried = threading.Event()

    def second_writer() -> None:
        second_tried.set()
        with store.unit_of_work(write=True) as u:
            order.append("second began")
            assert u.accounts.get(ada.id) == ada  # it began after the first committed
            u.accounts.add(bob)
            u.commit()

    with store.unit_of_work(write=True) as first:
        first.accounts.add(ada)
        other = threading.Thread(target=second_writer)
        other.start()
        assert second_tried.wait(5)
        time.sleep(0.05)  # long enough for the second to have begun, were it let in
        order.append("first commits")
        first.commit()
    other.join(5)

    assert order == ["first commits", "second began"]
    with store.unit_of_work() as u:
        assert u.accounts.get(bob.id) == bob


def test_a_reader_does_not_wait_for_a_writer() -> None:
    store = MemoryStore(busy_timeout=0.1)
    with store.unit_of_work(write=True) as writer:
        writer.accounts.add(account("ada@example.com"))
        with store.unit_of_work() as reader:
            assert reader.accounts.get_by_email("ada@example.com") is None


def test_a_second_writer_on_the_same_thread_is_refused_at_once() -> None:
    store = MemoryStore()
    with store.unit_of_work(write=True), pytest.raises(RuntimeError, match="already holds"):
        store.unit_of_work(write=True).__enter__()


def test_a_writer_that_waits_too_long_gives_up() -> None:
    store = MemoryStore(busy_timeout=0.05)
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            with store.unit_of_work(write=True):
                pass
        except TimeoutError as error:
            failures.append(error)

    with store.unit_of_work(write=True):
        other = threading.Thread(target=writer)
        other.start()
        other.join(5)
    assert len(failures) == 1


def test_a_reader_turning_writer_after_another_commit_is_refused() -> None:
    store = MemoryStore()
    with store.unit_of_work() as stale:
        assert stale.accounts.get_by_email("ada@example.com") is None  # it has read
        with store.unit_of_work(write=True) as writer:
            writer.accounts.add(account("ada@example.com"))
            writer.commit()
        with pytest.raises(ConcurrentChange):
            stale.accounts.add(account("ada@example.com"))
    with store.unit_of_work() as current:  # a reader whose state is the latest may write
        current.accounts.add(account("bob@example.com"))
        current.commit()
    with store.unit_of_work() as u:
        assert u.accounts.get_by_email("bob@example.com") is not None


def test_the_next_transaction_of_a_writer_begins_when_it_is_used() -> None:
    store = MemoryStore(busy_timeout=5)
    with store.unit_of_work(write=True) as u:
        u.accounts.add(account("ada@example.com"))
        u.commit()
        # Between transactions the write lock is free, as on SQL: another writer gets in.
        done = threading.Event()

        def write_in_between() -> None:
            with store.unit_of_work(write=True) as between:
                between.accounts.add(account("bob@example.com"))
                between.commit()
            done.set()

        other = threading.Thread(target=write_in_between)
        other.start()
        assert done.wait(5)
        assert u.accounts.get_by_email("bob@example.com") is not None  # a new snapshot


def test_a_unit_of_work_is_used_in_a_with_block() -> None:
    u = MemoryStore().unit_of_work()
    with pytest.raises(RuntimeError, match="with block"):
        u.accounts.get_by_email("ada@example.com")


def test_rows_handed_out_are_copies_and_json_fields_come_back_as_json() -> None:
    store = MemoryStore()
    owner = account("ada@example.com")
    artist = Artist(
        id=owner.id,
        name="Nova",
        account_id=owner.id,
        organization_id=None,
        profile={"genres": ("jazz", "soul"), "followers": {1: "x"}},
        created_at=T0,
    )
    with store.unit_of_work(write=True) as u:
        u.accounts.add(owner)
        u.accounts.add_artist(artist)
        u.commit()
    with store.unit_of_work() as u:
        got = u.accounts.get_artist(artist.id)
        assert got is not None
        assert got.profile == {"genres": ["jazz", "soul"], "followers": {"1": "x"}}
        got.profile["genres"].append("changed in place")
        again = u.accounts.get_artist(artist.id)
        assert again is not None
        assert again.profile["genres"] == ["jazz", "soul"]
    with store.unit_of_work(write=True) as u, pytest.raises(TypeError):
        u.accounts.add_artist(
            Artist(owner.id, "Bad", owner.id, None, {"when": T0}, T0)  # not JSON
        )
