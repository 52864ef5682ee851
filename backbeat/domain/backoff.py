"""How long a loop waits after the database failed it: the one policy every loop shares (the
worker's polls, its finish retries, its database steps within an attempt, the scheduler's
ticks).

Short and capped: a database back after an outage finds every process working again within
a couple of seconds. Jittered: processes that failed together do not all knock at once."""

from __future__ import annotations

import random

FIRST_SECONDS = 0.25
MAX_SECONDS = 2.0


def delay(failures: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after `failures` failures in a row: a ceiling doubling from
    FIRST_SECONDS (0.25, 0.5, 1) up to MAX_SECONDS (2), scaled by a random [0.5, 1)."""
    ceiling = min(MAX_SECONDS, FIRST_SECONDS * 2.0 ** min(max(failures, 1) - 1, 16))
    draw = (rng or random).random()  # jitter, not a secret
    return ceiling * (0.5 + 0.5 * draw)
