"""The fake model server's rate limits: requests and tokens per minute, a token bucket per API
(Anthropic's, OpenAI's) the way the providers keep theirs: each bucket holds a minute's worth
and refills continuously. A request is admitted when its API has a request left and tokens
for its input; it pays one request and its input tokens then, and its output tokens when the
answer goes out. One refused gets a 429 with `retry-after` (whole seconds, as the providers
send it). Every answer carries the API's own rate-limit headers:

* Anthropic: `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, the reset as an
  RFC 3339 instant (when the bucket will be full again);
* OpenAI: `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, the reset as a duration
  (`1s`, `6m0s`, `12ms`: how long until the bucket is full again).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backbeat.testing.fake_model_script import Api, RecordedRequest


@dataclass(frozen=True, slots=True)
class RateLimit:
    """Per minute, for each API; None: that one is not limited."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None


class _Bucket:
    def __init__(self, per_minute: float, now: float) -> None:
        self.capacity = per_minute
        self.rate = per_minute / 60.0  # per second
        self.level = per_minute
        self.at = now

    def refill(self, now: float) -> float:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now
        return self.level

    def wait_for(self, amount: float, now: float) -> float:
        """Seconds until the bucket holds `amount` (at most its capacity)."""
        missing = min(amount, self.capacity) - self.refill(now)
        return max(0.0, missing / self.rate)

    def until_full(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate)


def input_tokens(request: RecordedRequest) -> int:
    """What the server counts as a request's input: its characters ÷ 4 (as the replies'
    usage does by default)."""
    text = json.dumps([request.body.get("system"), request.messages, request.tools])
    return max(1, len(text) // 4)


class Limits:
    """The buckets of both APIs; not thread-safe (the server calls it under its lock)."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._buckets: dict[tuple[Api, str], _Bucket] = {}
        self.admitted = 0
        self.refused = 0
        self.tokens = 0  # charged, all APIs

    def _bucket(self, api: Api, kind: str) -> _Bucket | None:
        per_minute = (
            self.limit.requests_per_minute if kind == "requests" else self.limit.tokens_per_minute
        )
        if per_minute is None:
            return None
        bucket = self._buckets.get((api, kind))
        if bucket is None:
            bucket = self._buckets[api, kind] = _Bucket(per_minute, self._clock())
        return bucket

    def admit(self, api: Api, tokens: int) -> float | None:
        """None and the request paid for (one request, `tokens` of input), or the seconds to
        wait before it could be (a 429)."""
        now = self._clock()
        requests, budget = self._bucket(api, "requests"), self._bucket(api, "tokens")
        wait = max(
            requests.wait_for(1, now) if requests else 0.0,
            budget.wait_for(tokens, now) if budget else 0.0,
        )
        if wait > 0:
            self.refused += 1
            return wait
        if requests:
            requests.level -= 1
        if budget:
            budget.level -= tokens
        self.admitted += 1
        self.tokens += tokens
        return None

    def pay(self, api: Api, tokens: int) -> None:
        """Tokens the answer used beyond those paid on admission (its output)."""
        self.tokens += tokens
        budget = self._bucket(api, "tokens")
        if budget is not None:
            budget.refill(self._clock())
            budget.level -= tokens

    def headers(self, api: Api, retry_after: float | None = None) -> dict[str, str]:
        """The API's rate-limit headers as they stand now (and `retry-after` on a 429)."""
        now = self._clock()
        found: dict[str, str] = {}
        if retry_after is not None:
            found["retry-after"] = str(max(1, math.ceil(retry_after)))
        for kind in ("requests", "tokens"):
            bucket = self._bucket(api, kind)
            if bucket is None:
                continue
            remaining = max(0, math.floor(bucket.refill(now)))
            reset = bucket.until_full()
            if api == "anthropic":
                instant = datetime.now(UTC) + timedelta(seconds=reset)
                prefix = f"anthropic-ratelimit-{kind}"
                found[f"{prefix}-limit"] = f"{bucket.capacity:g}"
                found[f"{prefix}-remaining"] = str(remaining)
                found[f"{prefix}-reset"] = instant.isoformat(timespec="seconds").replace(
                    "+00:00", "Z"
                )
            else:
                found[f"x-ratelimit-limit-{kind}"] = f"{bucket.capacity:g}"
                found[f"x-ratelimit-remaining-{kind}"] = str(remaining)
                found[f"x-ratelimit-reset-{kind}"] = duration(reset)
        return found


def duration(seconds: float) -> str:
    """A duration as OpenAI's reset headers write it: `12ms`, `1.5s`, `6m0s`."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, rest = divmod(seconds, 60)
    text = f"{rest:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{int(minutes)}m{text}" if minutes else text
