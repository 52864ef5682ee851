"""A burst of runs through the worker against a rate-limited fake model server, with the
provider behind the per-provider limiter (agents/limits.py): every run completes, and the
limiter keeps the 429s away. The rate limits run on a fast clock (a minute in a second), and
nothing here asserts a duration."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any, cast

from backbeat.agents.anthropic import AnthropicProvider
from backbeat.agents.limits import LimitedProvider, Limiter, ProviderLimits
from backbeat.domain.runs import RunStatus
from backbeat.testing import FakeClock
from backbeat.testing.fake_models import FakeModelServer, RateLimit, Reply
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.worker.harness import make_harness, run

SPEED = 60.0  # clock seconds per real second: a minute's limit refills in a second
RUNS = 24


def fast() -> float:
    return time.monotonic() * SPEED


async def fast_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds / SPEED)


def test_a_burst_drains_under_the_limits_with_no_429(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    limit = RateLimit(requests_per_minute=8, tokens_per_minute=6_000)
    with FakeModelServer(limit=limit, clock=fast) as server:
        server.always(Reply("The weekly pulse.", input_tokens=100, output_tokens=20))
        limiter = Limiter(
            ProviderLimits(requests_per_minute=8, tokens_per_minute=6_000),
            name="anthropic",
            clock=fast,
            sleep=fast_sleep,
        )
        provider = LimitedProvider(
            AnthropicProvider("sk-test", base_url=server.url_anthropic), limiter
        )
        h = make_harness(backbeat, clock, cast(Any, provider), concurrency=10)
        queued = [
            h.run_now(alice, h.new_task(alice, title=f"Pulse {n}", model="claude-sonnet-4-6"))
            for n in range(RUNS)
        ]

        async def drain() -> list[RunStatus]:
            try:
                statuses: list[RunStatus] = []
                for _ in range(4 * RUNS):
                    await h.work()
                    statuses = await asyncio.to_thread(lambda: [h.get(q.id).status for q in queued])
                    if all(status.is_final for status in statuses):
                        break
                    clock.advance(timedelta(minutes=10))  # a retry, should one be due
                return statuses
            finally:
                await provider.aclose()

        statuses = run(drain())
        assert statuses == [RunStatus.COMPLETED] * RUNS
        # On this clock a 10 ms hiccup of a busy machine is 0.6 s: a 429 may still come of
        # it (and its run is retried), never a storm.
        assert server.rate_limited <= 2
        assert limiter.rate_limited == server.rate_limited
        assert limiter.calls == RUNS + server.rate_limited
        assert limiter.waits > 0  # the burst was held back instead
        assert len(server.requests) == RUNS  # one answer per run (a 429 is not recorded)
