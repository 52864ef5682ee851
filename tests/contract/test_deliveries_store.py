"""DeliveryRepository contracts (the outbox's rows), on every backend."""

from __future__ import annotations

from dataclasses import replace

import pytest

from backbeat.domain.deliveries import Channel, DeliveryStatus, Purpose
from backbeat.domain.runs import RunStatus
from tests.contract.builders import T0, UowFactory, World, add_runs, at, delivery, run, task


def test_one_row_per_run_channel_and_recipient(
    uow: UowFactory, world: World, refused: type[Exception]
) -> None:
    [item] = add_runs(uow, world, RunStatus.EXECUTING)
    first = delivery(item.id, "ada@example.com", attempt_id="attempt_1")
    with uow(write=True) as u:
        assert u.deliveries.add(first) == first
        again = delivery(item.id, "ada@example.com", subject="Other", created=5)
        assert u.deliveries.add(again) == first  # the row that is there stands
        u.commit()
    with uow() as u:
        assert u.deliveries.of_run(item.id) == [first]
        assert u.deliveries.get(again.id) is None
        assert u.deliveries.get(first.id, for_update=True) == first
    with uow(write=True) as u, pytest.raises(refused):
        u.deliveries.add(delivery("run_nothing", "ada@example.com"))  # no such run


def test_listings_of_runs(uow: UowFactory, world: World) -> None:
    first, second, quiet = add_runs(uow, world, *[RunStatus.EXECUTING] * 3)
    later = delivery(first.id, "b@example.com", created=2)
    earlier = delivery(first.id, "a@example.com", created=1, status=DeliveryStatus.SENT)
    theirs = delivery(second.id, "a@example.com", created=0)
    with uow(write=True) as u:
        for each in (later, earlier, theirs):
            u.deliveries.add(each)
        u.commit()
    with uow() as u:
        assert u.deliveries.of_run(first.id) == [earlier, later]
        assert u.deliveries.of_runs([first.id, second.id, quiet.id]) == {
            first.id: [earlier, later],
            second.id: [theirs],
        }
        assert u.deliveries.of_runs([]) == {}
        assert u.deliveries.pending_of_run(first.id) == [later]


def test_due_only_once_the_run_has_ended_and_not_by_a_cancel(uow: UowFactory, world: World) -> None:
    statuses = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.EXECUTING, RunStatus.CANCELED]
    completed, failed, executing, canceled = add_runs(uow, world, *statuses)
    soon = delivery(completed.id, "a@example.com", next_try_at=at(-5))
    sooner = delivery(failed.id, "a@example.com", next_try_at=at(-10))
    later = delivery(completed.id, "b@example.com", next_try_at=at(30))
    sending = delivery(completed.id, "c@example.com", status=DeliveryStatus.SENDING)
    # Never tried (its attempt ended between asking and sending): due at once.
    untried = delivery(completed.id, "d@example.com", created=-15, next_try_at=None)
    not_yet = [
        delivery(executing.id, "a@example.com", next_try_at=at(-20)),
        delivery(canceled.id, "a@example.com", next_try_at=at(-20)),
    ]
    with uow(write=True) as u:
        for each in (soon, sooner, later, sending, untried, *not_yet):
            u.deliveries.add(each)
        u.commit()
    with uow() as u:
        assert u.deliveries.due(T0, 10) == [untried, sooner, soon]
        assert u.deliveries.due(T0, 1) == [untried]
        assert u.deliveries.next_due() == at(-20)  # whatever its run: when to look again


def test_stuck_and_save(uow: UowFactory, world: World) -> None:
    [item] = add_runs(uow, world, RunStatus.EXECUTING)
    sending = {
        n: delivery(item.id, f"{n}@example.com", status=DeliveryStatus.SENDING, sending_until=at(n))
        for n in (-5, -10, 10)
    }
    with uow(write=True) as u:
        for each in sending.values():
            u.deliveries.add(each)
        assert u.deliveries.next_due() is None
        u.commit()
    with uow(write=True) as u:
        assert u.deliveries.stuck(T0, 10) == [sending[-10], sending[-5]]
        assert u.deliveries.stuck(T0, 1) == [sending[-10]]
        settled = replace(sending[-10], status=DeliveryStatus.SENT, sent_at=T0, sending_until=None)
        u.deliveries.save(settled)
        u.commit()
    with uow() as u:
        assert u.deliveries.stuck(T0, 10) == [sending[-5]]
        assert u.deliveries.get(settled.id) == settled


def test_last_report_is_the_newest_that_reached_someone_of_earlier_runs_of_the_task(
    uow: UowFactory, world: World
) -> None:
    """What a `when: changed` run compares with: the newest report delivery (purpose
    `report`) of the task's other runs created no later than it, failed and refused ones left
    out."""
    mine = task(world.account.id, world.artist.id)
    theirs = task(world.account.id, world.artist.id)
    first, second, third, now = (
        run(world.account.id, mine.id, created=n, status=RunStatus.COMPLETED) for n in (1, 2, 3, 4)
    )
    other = run(world.account.id, theirs.id, created=3, status=RunStatus.COMPLETED)
    report = Purpose.REPORT
    sent_first = delivery(first.id, "a@example.com", created=1, purpose=report, body="one")
    slack_second = delivery(
        second.id,
        "slack",
        channel=Channel.SLACK,
        created=2,
        purpose=report,
        status=DeliveryStatus.SENT,
        body="two",
    )
    failed_third = delivery(
        third.id, "a@example.com", created=3, purpose=report, status=DeliveryStatus.FAILED
    )
    message_third = delivery(third.id, "b@example.com", created=3)  # the model's own email
    other_task = delivery(other.id, "a@example.com", created=3, purpose=report)
    later = delivery(now.id, "a@example.com", created=4, purpose=report)
    with uow(write=True) as u:
        u.tasks.add(mine)
        u.tasks.add(theirs)
        for each in (first, second, third, now, other):
            u.runs.add(each)
        for row in (sent_first, slack_second, failed_third, message_third, other_task, later):
            u.deliveries.add(row)
        u.commit()
    with uow() as u:
        assert u.deliveries.last_report(now) == slack_second
        assert u.deliveries.last_report(second) == sent_first
        assert u.deliveries.last_report(first) is None
        assert u.deliveries.last_report(run(world.account.id, theirs.id, created=9)) == other_task
        # A run created at the same instant as an earlier one still sees its report.
        assert u.deliveries.last_report(replace(second, created_at=first.created_at)) == sent_first
