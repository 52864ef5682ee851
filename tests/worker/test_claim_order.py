"""Claims keep a task's runs in order even when another worker holds the earlier one."""

from __future__ import annotations

from sqlalchemy import text

from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import make_harness


def test_a_claim_does_not_jump_over_a_locked_earlier_run(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    h = make_harness(backbeat, clock)
    task_id = h.new_task(alice)
    first = h.run_now(alice, task_id)
    clock.advance(seconds=1)
    h.run_now(alice, task_id)
    other = h.run_now(alice, h.new_task(alice))

    if backbeat.engine.dialect.name != "postgresql":
        # SQLite has one writer at a time: nothing can hold the first run while we claim.
        assert {c.run.id for c in h.queue.claim("w", 10)} == {first.id, other.id}
        return
    # Another worker's claim holds the first run locked (and may yet roll back).
    with backbeat.engine.connect() as holder:
        holder.execute(text("SELECT 1 FROM runs WHERE id = :id FOR UPDATE"), {"id": first.id})
        claimed = {c.run.id for c in h.queue.claim("w", 10)}
        holder.rollback()

    assert claimed == {other.id}  # not the task's second run
