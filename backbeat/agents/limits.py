"""Per-provider concurrency and rate limits, kept by each worker process in front of each
provider and adapted to the rate-limit headers the provider sends, so that a burst of runs
goes out at the pace the provider allows instead of into a wall of 429s.

A `Limiter` keeps what the settings say (BACKBEAT_<PROVIDER>_MAX_CONCURRENCY,
_REQUESTS_PER_MINUTE, _TOKENS_PER_MINUTE; unset: no limit) the way the providers keep theirs:
a token bucket per kind that holds a minute's worth and refills continuously. A call waits,
first come first served, until its provider has a request and the tokens it may use: its
input (estimated from its characters, generously) and the output calls have written on
average so far; once answered, the bucket is corrected to the tokens it did use.

What the provider says counts too:

* `retry-after` on a 429: no call goes out before it has passed (the 429 itself is retried
  by the worker's retry policy, as any other);
* `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}` and OpenAI's
  `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, on every answer: a limit below the
  setting (or the only one known) is kept from then on, and a bucket never holds more than
  the provider says remains (another worker may be spending it too); a provider that says
  nothing remains, without a limit, is not called before its reset.

One limiter per provider per worker process: with several workers on one provider account,
divide the settings among them, or let the headers keep them in line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backbeat.agents.base import ModelProvider, ModelReply, ModelRequest, RateLimited
from backbeat.agents.budget import input_tokens_at_most
from backbeat.config import Settings
from backbeat.domain.failures import AttemptFailed, FailureKind

log = logging.getLogger("backbeat.agents.limits")

KINDS = ("requests", "tokens")


@dataclass(frozen=True, slots=True)
class ProviderLimits:
    """One provider's limits in one worker process; None: not limited."""

    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


def limits_for(settings: Settings, provider: str) -> ProviderLimits:
    """The limits the settings give a provider ("anthropic", "openai", "compatible")."""
    return ProviderLimits(
        getattr(settings, f"{provider}_max_concurrency", None),
        getattr(settings, f"{provider}_requests_per_minute", None),
        getattr(settings, f"{provider}_tokens_per_minute", None),
    )


class Bucket:
    """A minute's worth, refilled continuously."""

    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0  # per second
        self.level = per_minute
        self.at = now

    def refill(self, now: float) -> float:
        self.level = min(self.capacity, self.level + max(0.0, now - self.at) * self.rate)
        self.at = now
        return self.level

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until the bucket holds `amount` (at most its capacity)."""
        return max(0.0, (min(amount, self.capacity) - self.refill(now)) / self.rate)

    def shrink(self, per_minute: float, now: float) -> None:
        self.refill(now)
        self.capacity = per_minute
        self.rate = per_minute / 60.0
        self.level = min(self.level, per_minute)


@dataclass(frozen=True, slots=True)
class Window:
    """What a provider said of one kind of limit: all None when it said nothing."""

    limit: float | None = None
    remaining: float | None = None
    reset: float | None = None  # seconds until the limit is whole again


def windows(headers: Mapping[str, str], now: datetime) -> dict[str, Window]:
    """Anthropic's and OpenAI's rate-limit headers (names in lower case) per kind."""
    found: dict[str, Window] = {}
    for kind in KINDS:
        names = (
            (f"anthropic-ratelimit-{kind}-{part}" for part in ("limit", "remaining", "reset"))
            if f"anthropic-ratelimit-{kind}-remaining" in headers
            else (f"x-ratelimit-{part}-{kind}" for part in ("limit", "remaining", "reset"))
        )
        limit, remaining, reset = (headers.get(name) for name in names)
        if remaining is None and limit is None:
            continue
        found[kind] = Window(_number(limit), _number(remaining), reset_seconds(reset, now))
    return found


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def reset_seconds(value: str | None, now: datetime) -> float | None:
    """A reset header as seconds from now: an RFC 3339 instant (Anthropic's), a duration such
    as `6m0s` or `12ms` (OpenAI's), or plain seconds; None when it is none of them."""
    if value is None:
        return None
    value = value.strip()
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    parts = _DURATION.findall(value)
    if parts and "".join(number + unit for number, unit in parts) == value:
        return sum(float(number) * _UNITS[unit] for number, unit in parts)
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _number(value: str | None) -> float | None:
    try:
        number = float(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < float("inf") else None


class Limiter:
    """The limits of one provider in one process (one event loop). `clock` and `sleep` are
    the event loop's time by default; a test passes its own."""

    def __init__(
        self,
        limits: ProviderLimits,
        *,
        name: str = "provider",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.name = name
        self._clock, self._sleep, self._wall = clock, sleep, wall
        now = clock()
        per_minute = {"requests": limits.requests_per_minute, "tokens": limits.tokens_per_minute}
        self.buckets = {kind: Bucket(n, now) for kind, n in per_minute.items() if n}
        self._slots = asyncio.Semaphore(limits.max_concurrency) if limits.max_concurrency else None
        self._gate = asyncio.Lock()  # first come, first served
        self.held_until = 0.0  # no call before this (clock time): a retry-after, a reset
        self._outputs = (0, 0)  # output tokens written, calls answered: their average
        # How long a call takes (seconds, smoothed, rising at once): the provider counts a
        # call when it arrives, so a bucket that sits full there loses refill we would count;
        # what comes in over one call's time is kept in hand for that.
        self.latency = 0.0
        # What it did, for tests and benchmarks.
        self.calls = 0
        self.rate_limited = 0
        self.waits = 0  # calls that had to wait for the limits
        self.waited = 0.0  # seconds, all calls together

    @asynccontextmanager
    async def call(self, input_tokens: int) -> AsyncIterator[Call]:
        """Wait for a slot and the limits' leave to send a call that may use `input_tokens`;
        the caller then reports how it went on the `Call`."""
        if self._slots is not None:
            await self._slots.acquire()
        try:
            written, answered = self._outputs
            tokens = input_tokens + (written // answered if answered else 0)
            await self._admit(tokens)
            yield Call(self, tokens, self._clock())
        finally:
            if self._slots is not None:
                self._slots.release()

    async def _admit(self, tokens: int) -> None:
        async with self._gate:
            waited = False
            while True:
                now = self._clock()
                wait = self.held_until - now
                for kind, amount in (("requests", 1), ("tokens", tokens)):
                    bucket = self.buckets.get(kind)
                    if bucket is not None:
                        margin = self.latency * bucket.rate
                        wait = max(wait, bucket.wait_for(amount + margin, now))
                if wait <= 0:
                    break
                if not waited:
                    self.waits += 1
                    waited = True
                self.waited += wait
                await self._sleep(wait)
            self.calls += 1
            self._take("requests", 1)
            self._take("tokens", tokens)

    def _take(self, kind: str, amount: float) -> None:
        bucket = self.buckets.get(kind)
        if bucket is not None:
            bucket.refill(self._clock())
            bucket.level -= amount

    def observe(
        self, headers: Mapping[str, str], retry_after: timedelta | float | None = None
    ) -> None:
        """Take in what an answer (or a 429) said of the limits."""
        now = self._clock()
        if isinstance(retry_after, timedelta):
            retry_after = retry_after.total_seconds()
        if retry_after is not None and retry_after > 0:
            until = now + retry_after
            if until > self.held_until:
                if self.held_until <= now:
                    log.warning(
                        "%s answered 429: no call to it for %.1f s",
                        self.name,
                        until - now,
                        extra={
                            "event": "provider.rate_limited",
                            "provider": self.name,
                            "retry_after": round(until - now, 3),
                        },
                    )
                self.held_until = until
        if not headers:
            return
        for kind, window in windows(headers, self._wall()).items():
            bucket = self.buckets.get(kind)
            if window.limit and (bucket is None or window.limit < bucket.capacity):
                if bucket is None:
                    bucket = self.buckets[kind] = Bucket(window.limit, now)
                else:
                    bucket.shrink(window.limit, now)
            if bucket is not None and window.remaining is not None:
                # Never more than the provider says remains (another process may spend the
                # same limit); the header is rounded down, so the fraction is kept.
                level = bucket.refill(now)
                bucket.level = min(level, window.remaining + level % 1)
            elif window.remaining is not None and window.remaining < 1 and window.reset:
                self.held_until = max(self.held_until, now + window.reset)


class Call:
    """One call through a Limiter: say how it went."""

    def __init__(self, limiter: Limiter, tokens: int, sent: float) -> None:
        self._limiter = limiter
        self._tokens = tokens
        self._sent = sent

    def _took(self) -> None:
        limiter = self._limiter
        took = limiter._clock() - self._sent
        limiter.latency = took if took > limiter.latency else 0.9 * limiter.latency + 0.1 * took

    def answered(self, reply: ModelReply) -> None:
        """The tokens it used instead of those it was allowed, and the answer's headers."""
        limiter = self._limiter
        self._took()
        used = reply.usage.input_tokens + reply.usage.output_tokens
        limiter._take("tokens", used - self._tokens)
        written, answered = limiter._outputs
        limiter._outputs = (written + reply.usage.output_tokens, answered + 1)
        limiter.observe(reply.limit_headers)

    def refused(self, headers: Mapping[str, str], retry_after: timedelta | float | None) -> None:
        """A 429: the provider took nothing for it; hold the calls back as it says."""
        limiter = self._limiter
        self._took()
        limiter.rate_limited += 1
        limiter._take("requests", -1)
        limiter._take("tokens", -self._tokens)
        limiter.observe(headers, retry_after)


class LimitedProvider:
    """`provider`, its calls kept within `limiter`."""

    def __init__(self, provider: ModelProvider, limiter: Limiter) -> None:
        self._provider = provider
        self.limiter = limiter
        self.name = provider.name

    async def complete(self, request: ModelRequest) -> ModelReply:
        async with self.limiter.call(input_tokens_at_most(request)) as call:
            try:
                reply = await self._provider.complete(request)
            except AttemptFailed as exc:
                if exc.kind is FailureKind.RATE_LIMITED:
                    headers = exc.limit_headers if isinstance(exc, RateLimited) else {}
                    call.refused(headers, exc.retry_after)
                raise
            call.answered(reply)
            return reply

    async def aclose(self) -> None:
        await self._provider.aclose()
