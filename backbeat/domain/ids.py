"""Identifiers for runs and attempts: a prefix and a time-ordered, random body.

Trigger.dev-style ids (`run_…`, `attempt_…`). The body is 26 characters of Crockford
base32: 48 bits of milliseconds since the epoch, then 80 random bits, so ids sort by
creation time, which keyset paging relies on as a tie-breaker.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def _time_ordered(now_ms: int | None = None) -> str:
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    value = (ms << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_run_id() -> str:
    return "run_" + _time_ordered()


def new_attempt_id() -> str:
    return "attempt_" + _time_ordered()


def new_delivery_id() -> str:
    return "delivery_" + _time_ordered()


def new_webhook_id() -> str:
    return "whep_" + _time_ordered()
