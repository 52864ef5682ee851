"""DeliveryRepository contracts for webhook events, on every backend: the purpose in the key,
which pending rows the outbox may send, each delivery's tries, and a recipient's log."""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, text

from backbeat.domain.deliveries import (
    Channel,
    Delivery,
    DeliveryStatus,
    DeliveryTry,
    Purpose,
    SendOutcome,
)
from backbeat.domain.ids import new_delivery_id
from backbeat.domain.runs import RunStatus
from backbeat.store.tables import delivery_tries
from tests.contract.builders import (
    T0,
    UowFactory,
    World,
    account,
    add_runs,
    assert_utc,
    at,
    count_rows,
    delivery,
    run,
    sql_only,
)

HOOK = "whep_1"


def event(run_id: str, recipient: str = HOOK, **fields: Any) -> Delivery:
    """A webhook event's delivery: pending, to the endpoint HOOK unless told."""
    return delivery(run_id, recipient, channel=Channel.WEBHOOK, purpose=Purpose.EVENT, **fields)


def test_a_message_and_an_event_to_one_recipient_are_two_rows(
    uow: UowFactory, world: World
) -> None:
    [item] = add_runs(uow, world, RunStatus.COMPLETED)
    message = delivery(item.id, HOOK, channel=Channel.WEBHOOK, created=1)
    notice = delivery(item.id, HOOK, channel=Channel.WEBHOOK, purpose=Purpose.EVENT, created=2)
    email = delivery(item.id, HOOK, created=3)  # the same recipient on another channel
    with uow(write=True) as u:
        assert u.deliveries.add(message) == message
        assert u.deliveries.add(notice) == notice
        assert u.deliveries.add(email) == email
        u.commit()

    # Adding is idempotent per full key: the row there stands, whatever else differs.
    again_message = delivery(item.id, HOOK, channel=Channel.WEBHOOK, body="Other", created=9)
    again_event = delivery(
        item.id, HOOK, channel=Channel.WEBHOOK, purpose=Purpose.EVENT, body="Other", created=9
    )
    with uow(write=True) as u:
        assert u.deliveries.add(again_message) == message
        assert u.deliveries.add(again_event) == notice
        u.commit()
    with uow() as u:
        assert u.deliveries.of_run(item.id) == [message, notice, email]
        assert u.deliveries.get(again_message.id) is None
        assert u.deliveries.get(again_event.id) is None
        assert u.deliveries.get(notice.id) == notice


def test_saving_into_another_rows_key_is_refused(
    uow: UowFactory, world: World, refused: type[Exception]
) -> None:
    [item] = add_runs(uow, world, RunStatus.COMPLETED)
    message = delivery(item.id, HOOK, channel=Channel.WEBHOOK)
    notice = delivery(item.id, HOOK, channel=Channel.WEBHOOK, purpose=Purpose.EVENT)
    with uow(write=True) as u:
        u.deliveries.add(message)
        u.deliveries.add(notice)
        u.commit()
    with uow(write=True) as u, pytest.raises(refused):
        u.deliveries.save(delivery(item.id, HOOK, channel=Channel.WEBHOOK, id=notice.id))
    with uow() as u:
        assert u.deliveries.get(notice.id) == notice


def test_pending_of_run_leaves_the_events_out(uow: UowFactory, world: World) -> None:
    [item] = add_runs(uow, world, RunStatus.EXECUTING)
    pending = delivery(item.id, "a@example.com", created=1)
    sent = delivery(item.id, "b@example.com", created=2, status=DeliveryStatus.SENT)
    notice = event(item.id, created=3)
    with uow(write=True) as u:
        for each in (pending, sent, notice):
            u.deliveries.add(each)
        u.commit()
    with uow() as u:
        assert u.deliveries.pending_of_run(item.id) == [pending]
        assert u.deliveries.of_run(item.id) == [pending, sent, notice]


def test_events_are_due_whatever_the_runs_state(uow: UowFactory, world: World) -> None:
    statuses = [RunStatus.CANCELED, RunStatus.EXECUTING, RunStatus.COMPLETED]
    canceled, executing, completed = add_runs(uow, world, *statuses)
    of_canceled = event(canceled.id, next_try_at=at(-10))
    of_executing = event(executing.id, next_try_at=at(-5))
    untried = event(completed.id, created=-20, next_try_at=None)  # due at once
    not_due = [
        delivery(canceled.id, "a@example.com", next_try_at=at(-30)),  # its message: never
        delivery(executing.id, "a@example.com", next_try_at=at(-30)),  # its attempt sends it
        event(completed.id, "whep_later", next_try_at=at(30)),
        event(completed.id, "whep_sending", status=DeliveryStatus.SENDING),
        event(completed.id, "whep_failed", status=DeliveryStatus.FAILED),
    ]
    with uow(write=True) as u:
        for each in (of_canceled, of_executing, untried, *not_due):
            u.deliveries.add(each)
        u.commit()
    with uow() as u:
        assert u.deliveries.due(T0, 10) == [untried, of_canceled, of_executing]
        assert u.deliveries.due(T0, 2) == [untried, of_canceled]
        assert u.deliveries.next_due() == at(-30)


def test_tries_come_back_first_first(
    uow: UowFactory, world: World, refused: type[Exception]
) -> None:
    [item] = add_runs(uow, world, RunStatus.COMPLETED)
    first, second, quiet = (event(item.id, f"whep_{n}") for n in range(3))
    east = timezone(timedelta(hours=2))
    tries = {
        "first_2": DeliveryTry(2, at(60), SendOutcome.ACCEPTED, None),
        "first_1": DeliveryTry(1, at(0).astimezone(east), SendOutcome.TEMPORARY, "HTTP 503"),
        "second_1": DeliveryTry(1, at(5), SendOutcome.PERMANENT, "timed out after 10 s"),
    }
    with uow(write=True) as u:
        for each in (first, second, quiet):
            u.deliveries.add(each)
        u.deliveries.record_try(first.id, tries["first_2"])  # recorded out of order
        u.deliveries.record_try(first.id, tries["first_1"])
        u.deliveries.record_try(second.id, tries["second_1"])
        u.commit()
    with uow() as u:
        found = u.deliveries.tries_of([quiet.id, second.id, first.id, "delivery_none"])
        assert found == {
            first.id: [tries["first_1"], tries["first_2"]],
            second.id: [tries["second_1"]],
        }
        for one in (*found[first.id], *found[second.id]):
            assert_utc(one)
        assert u.deliveries.tries_of([]) == {}

    with uow(write=True) as u, pytest.raises(refused):  # (delivery, number) is the key
        u.deliveries.record_try(first.id, DeliveryTry(2, at(90), SendOutcome.ACCEPTED, None))
    with uow(write=True) as u, pytest.raises(refused):  # the delivery must exist
        u.deliveries.record_try(new_delivery_id(), tries["second_1"])
    with uow() as u:
        assert u.deliveries.tries_of([first.id])[first.id][1] == tries["first_2"]


def test_a_recipients_deliveries_newest_first(uow: UowFactory, world: World) -> None:
    runs = add_runs(uow, world, *[RunStatus.COMPLETED] * 4)
    ids = sorted(new_delivery_id() for _ in runs)  # time-ordered: the last is the newest
    mine = [
        event(item.id, id=each, created=n)
        for n, (item, each) in enumerate(zip(runs, ids, strict=True))
    ]
    others = [
        event(runs[0].id, "whep_other"),  # another endpoint
        delivery(runs[0].id, HOOK),  # the same recipient on another channel
    ]
    with uow(write=True) as u:
        for each in (*mine, *others):
            u.deliveries.add(each)
        u.commit()
    oldest, older, newer, newest = mine
    with uow() as u:
        everything = u.deliveries.to_recipient(Channel.WEBHOOK, HOOK, 10)
        assert everything == [newest, newer, older, oldest]
        assert u.deliveries.to_recipient(Channel.WEBHOOK, HOOK, 2) == [newest, newer]
        page = u.deliveries.to_recipient(Channel.WEBHOOK, HOOK, 2, before=newer.id)
        assert page == [older, oldest]
        assert u.deliveries.to_recipient(Channel.WEBHOOK, HOOK, 10, before=oldest.id) == []
        assert u.deliveries.to_recipient(Channel.WEBHOOK, "whep_none", 10) == []
        assert u.deliveries.to_recipient(Channel.EMAIL, HOOK, 10) == [others[1]]


@sql_only  # the database's ON DELETE CASCADE: Backbeat itself never deletes an account
def test_tries_go_with_their_delivery(uow: UowFactory, engine: Engine) -> None:
    gone = account("gone@example.com")
    item = run(gone.id, None, status=RunStatus.COMPLETED)
    notice = event(item.id)
    with uow(write=True) as u:
        u.accounts.add(gone)
        u.runs.add(item)
        u.deliveries.add(notice)
        u.deliveries.record_try(notice.id, DeliveryTry(1, T0, SendOutcome.ACCEPTED, "HTTP 200"))
        u.commit()
    assert count_rows(uow, delivery_tries) == 1
    with engine.begin() as connection:  # the account, its run, its deliveries, their tries
        connection.execute(
            text("DELETE FROM accounts WHERE id = :id"),
            {"id": gone.id.hex if connection.dialect.name == "sqlite" else gone.id},
        )
    with uow() as u:
        assert u.deliveries.get(notice.id) is None
        assert u.deliveries.tries_of([notice.id]) == {}
    assert count_rows(uow, delivery_tries) == 0
