"""The per-provider limiter (agents/limits.py) on a fake clock: when each call goes out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from backbeat.agents.base import ModelReply, ModelRequest, RateLimited, Usage, UserMessage
from backbeat.agents.limits import (
    LimitedProvider,
    Limiter,
    ProviderLimits,
    limits_for,
    reset_seconds,
    windows,
)
from backbeat.config import Settings
from backbeat.domain.failures import AttemptFailed

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class FakeTime:
    """A clock that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


def limiter(time: FakeTime, **limits: float) -> Limiter:
    return Limiter(
        ProviderLimits(**limits),  # type: ignore[arg-type]
        clock=time,
        sleep=time.sleep,
        wall=lambda: NOW + timedelta(seconds=time.now),
    )


class Model:
    """Answers at once with fixed usage, or raises what it is given; records when."""

    name = "fake"

    def __init__(self, time: FakeTime, usage: Usage = Usage(10, 10, 1)) -> None:
        self.time = time
        self.usage = usage
        self.sent: list[float] = []
        self.headers: dict[str, str] = {}
        self.fail: list[AttemptFailed] = []
        self.in_flight = self.most_in_flight = 0
        self.hold: asyncio.Event | None = None

    async def complete(self, request: ModelRequest) -> ModelReply:
        self.sent.append(self.time.now)
        if self.fail:
            raise self.fail.pop(0)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if self.hold is not None:
                await self.hold.wait()
            return ModelReply("ok", usage=self.usage, limit_headers=dict(self.headers))
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


REQUEST = ModelRequest(model="m", system="", messages=(UserMessage("hi"),))


async def send(provider: LimitedProvider, count: int) -> None:
    await asyncio.gather(*(provider.complete(REQUEST) for _ in range(count)))


def test_requests_go_out_at_the_rate_once_the_minutes_worth_is_spent() -> None:
    time = FakeTime()
    model = Model(time)
    provider = LimitedProvider(model, limiter(time, requests_per_minute=60))
    asyncio.run(send(provider, 65))
    assert model.sent[:60] == [0.0] * 60
    assert model.sent[60:] == pytest.approx([1.0, 2.0, 3.0, 4.0, 5.0])
    assert (provider.limiter.calls, provider.limiter.waits) == (65, 5)


def test_tokens_are_counted_as_used_not_as_estimated() -> None:
    time = FakeTime()
    model = Model(time, usage=Usage(60, 40, 1))  # 100 tokens a call
    limits = limiter(time, tokens_per_minute=600)  # 10 tokens a second
    provider = LimitedProvider(model, limits)

    async def scenario() -> None:
        for _ in range(9):
            await provider.complete(REQUEST)

    asyncio.run(scenario())
    # The estimate of this request is under 100 tokens; the first answer corrects the
    # bucket to what was used, later calls reserve the output seen on average as well.
    # Six calls of 100 from the minute's 600; then one each time 100 more have come in.
    assert model.sent[:6] == [0.0] * 6
    gaps = [model.sent[i + 1] - model.sent[i] for i in (6, 7)]
    assert gaps == pytest.approx([10.0, 10.0])
    assert model.sent[6] < 10.0  # the reservation (estimate + average output) came first


def test_no_more_calls_in_flight_than_the_concurrency() -> None:
    time = FakeTime()
    model = Model(time)
    provider = LimitedProvider(model, limiter(time, max_concurrency=3))

    async def scenario() -> None:
        model.hold = asyncio.Event()
        calls = asyncio.gather(*(provider.complete(REQUEST) for _ in range(10)))
        for _ in range(5):
            await asyncio.sleep(0)
        assert model.in_flight == 3
        model.hold.set()
        await calls

    asyncio.run(scenario())
    assert model.most_in_flight == 3
    assert len(model.sent) == 10


def test_a_429_holds_every_call_until_its_retry_after() -> None:
    time = FakeTime()
    model = Model(time)
    model.fail.append(RateLimited("429", retry_after=timedelta(seconds=30)))
    provider = LimitedProvider(model, limiter(time))

    async def scenario() -> None:
        with pytest.raises(AttemptFailed):
            await provider.complete(REQUEST)
        await send(provider, 3)

    asyncio.run(scenario())
    assert model.sent == [0.0, 30.0, 30.0, 30.0]
    assert provider.limiter.rate_limited == 1


def test_the_headers_limit_and_remaining_are_kept() -> None:
    time = FakeTime()
    model = Model(time)
    # Nothing configured: OpenAI's headers say 60 a minute, none left for now.
    model.headers = {
        "x-ratelimit-limit-requests": "60",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "1m0s",
    }
    provider = LimitedProvider(model, limiter(time))
    asyncio.run(send(provider, 4))
    # The first answer said so: from then on, one a second.
    assert model.sent == pytest.approx([0.0, 1.0, 2.0, 3.0])
    assert provider.limiter.buckets["requests"].capacity == 60


def test_a_lower_limit_in_the_headers_replaces_the_setting() -> None:
    time = FakeTime()
    model = Model(time)
    model.headers = {
        "anthropic-ratelimit-requests-limit": "6",
        "anthropic-ratelimit-requests-remaining": "5",
        "anthropic-ratelimit-requests-reset": "2026-12-07T09:00:10Z",
    }
    limits = limiter(time, requests_per_minute=600)
    provider = LimitedProvider(model, limits)

    async def scenario() -> None:
        for _ in range(7):
            await provider.complete(REQUEST)

    asyncio.run(scenario())
    assert limits.buckets["requests"].capacity == 6
    assert model.sent[:6] == [0.0] * 6
    assert model.sent[6] == pytest.approx(10.0)  # 6 a minute: one every 10 s


def test_remaining_zero_without_a_limit_waits_for_the_reset() -> None:
    time = FakeTime()
    model = Model(time)
    model.headers = {
        "x-ratelimit-remaining-tokens": "0",
        "x-ratelimit-reset-tokens": "6.5s",
    }
    provider = LimitedProvider(model, limiter(time))

    async def scenario() -> None:
        await provider.complete(REQUEST)
        await provider.complete(REQUEST)

    asyncio.run(scenario())
    assert model.sent == [0.0, 6.5]


def test_reset_headers_in_each_providers_form() -> None:
    assert reset_seconds("6m0s", NOW) == 360
    assert reset_seconds("12ms", NOW) == pytest.approx(0.012)
    assert reset_seconds("1.5s", NOW) == 1.5
    assert reset_seconds("1h2m3s", NOW) == 3723
    assert reset_seconds("7", NOW) == 7
    assert reset_seconds("2026-12-07T09:00:42Z", NOW) == 42
    assert reset_seconds("2026-12-07T08:59:00Z", NOW) == 0
    assert reset_seconds("soon", NOW) is None
    found = windows(
        {
            "anthropic-ratelimit-tokens-limit": "80000",
            "anthropic-ratelimit-tokens-remaining": "79000",
            "anthropic-ratelimit-tokens-reset": "2026-12-07T09:00:01Z",
        },
        NOW,
    )
    assert set(found) == {"tokens"}
    assert (found["tokens"].limit, found["tokens"].remaining, found["tokens"].reset) == (
        80000,
        79000,
        1,
    )


def test_limits_come_from_the_settings() -> None:
    settings = Settings(
        anthropic_max_concurrency=50,
        anthropic_requests_per_minute=4000,
        openai_tokens_per_minute=2_000_000,
    )
    assert limits_for(settings, "anthropic") == ProviderLimits(50, 4000, None)
    assert limits_for(settings, "openai") == ProviderLimits(None, None, 2_000_000)
    assert limits_for(settings, "compatible") == ProviderLimits()
