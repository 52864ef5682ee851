"""The fake model server's rate limits, through the real SDK providers: 429s with
`retry-after`, each API's rate-limit headers on every answer, and the limiter in front of a
provider keeping a burst under them (on a fast clock: a minute is a second here)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Iterator

import pytest

from backbeat.agents.base import ModelProvider, ModelReply, RateLimited
from backbeat.agents.limits import LimitedProvider, Limiter, ProviderLimits
from backbeat.testing.fake_models import FakeModelServer, RateLimit, Reply
from tests.agents.providers import ANTHROPIC, CASES, ProviderCase, request


class ManualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(clock: ManualClock) -> Iterator[FakeModelServer]:
    with FakeModelServer(limit=RateLimit(requests_per_minute=3), clock=clock) as fake:
        fake.always(Reply("ok", input_tokens=10, output_tokens=5))
        yield fake


def one(provider: ModelProvider, case: ProviderCase, count: int) -> list[object]:
    async def run() -> list[object]:
        try:
            found: list[object] = []
            for _ in range(count):
                try:
                    found.append(await provider.complete(request(case)))
                except RateLimited as exc:
                    found.append(exc)
            return found
        finally:
            await provider.aclose()

    return asyncio.run(run())


@pytest.mark.parametrize("case", CASES, ids=str)
def test_over_the_limit_is_a_429_with_retry_after_and_the_apis_headers(
    case: ProviderCase, server: FakeModelServer, clock: ManualClock
) -> None:
    replies = one(case.build(case.base_url(server)), case, 4)
    *answered, refused = replies
    assert all(not isinstance(reply, RateLimited) for reply in answered)
    assert isinstance(refused, RateLimited)
    assert refused.retry_after is not None
    assert refused.retry_after.total_seconds() == 20  # 3 a minute: one every 20 s
    assert server.rate_limited == 1
    last = answered[-1]
    assert isinstance(last, ModelReply)
    if case is ANTHROPIC:
        assert last.limit_headers["anthropic-ratelimit-requests-limit"] == "3"
        assert last.limit_headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert last.limit_headers["anthropic-ratelimit-requests-reset"].endswith("Z")
        assert refused.limit_headers["anthropic-ratelimit-requests-remaining"] == "0"
    else:
        assert last.limit_headers["x-ratelimit-limit-requests"] == "3"
        assert last.limit_headers["x-ratelimit-remaining-requests"] == "0"
        assert last.limit_headers["x-ratelimit-reset-requests"] == "1m0s"
        assert refused.limit_headers["x-ratelimit-remaining-requests"] == "0"

    clock.now += 20  # one more has come in
    assert not isinstance(one(case.build(case.base_url(server)), case, 1)[0], RateLimited)


def test_tokens_are_limited_per_api_and_set_over_the_control_api(
    server: FakeModelServer, clock: ManualClock
) -> None:
    server.always(Reply("ok", output_tokens=1000))
    body = json.dumps({"requests_per_minute": None, "tokens_per_minute": 2000}).encode()
    sent = urllib.request.Request(server.url + "/_control/limits", data=body, method="POST")
    with urllib.request.urlopen(sent, timeout=5) as answer:
        assert json.loads(answer.read())["ok"] is True
    # A request is let in while its API has tokens for its input; its 1,000 of output then
    # take the bucket under: the third of each API is refused.
    for case in CASES:
        replies = one(case.build(case.base_url(server)), case, 3)
        assert [isinstance(reply, RateLimited) for reply in replies] == [False, False, True]
    with urllib.request.urlopen(server.url + "/_control/limits", timeout=5) as answer:
        assert json.loads(answer.read())["rate_limited"] == 2


@pytest.mark.parametrize("case", CASES, ids=str)
def test_the_limiter_keeps_a_burst_under_the_servers_limits(case: ProviderCase) -> None:
    """40 calls at once against 10 requests a minute, on a clock where a minute passes in a
    second: 10 at once, then one every 0.1 s. A 429 could still come of this clock's speed
    (a 10 ms hiccup of a busy machine is 0.6 s of it); one is retried, as the worker would."""
    speed = 60.0  # clock seconds per real second

    def fast() -> float:
        return time.monotonic() * speed

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(seconds / speed)

    limit = RateLimit(requests_per_minute=10, tokens_per_minute=2_000)
    with FakeModelServer(limit=limit, clock=fast, max_recorded=0) as server:
        server.always(Reply("ok", input_tokens=50, output_tokens=50))
        limiter = Limiter(
            ProviderLimits(max_concurrency=8, requests_per_minute=10, tokens_per_minute=2_000),
            clock=fast,
            sleep=sleep,
        )
        provider = LimitedProvider(case.build(case.base_url(server)), limiter)

        async def one() -> None:
            try:
                await provider.complete(request(case))
            except RateLimited:
                await provider.complete(request(case))

        async def run() -> None:
            try:
                await asyncio.gather(*(one() for _ in range(40)))
            finally:
                await provider.aclose()

        asyncio.run(run())
        assert server.rate_limited <= 2
        assert limiter.rate_limited == server.rate_limited
        assert limiter.calls == 40 + server.rate_limited
        assert limiter.waits > 20  # it held the calls back instead
