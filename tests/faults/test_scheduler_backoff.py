"""The scheduler's backoff after database errors: short, capped, jittered, so that it works
again within seconds of the database's return and schedulers do not retry in lockstep."""

from __future__ import annotations

from itertools import pairwise

import pytest

from backbeat.scheduler.loop import FIRST_BACKOFF_SECONDS, MAX_BACKOFF_SECONDS, backoff_seconds

LOW, HIGH = 0.0, 0.999999  # the extremes of random.random()


def test_the_backoff_doubles_from_a_quarter_second_up_to_two_seconds() -> None:
    steps = [backoff_seconds(failures, draw=lambda: HIGH) for failures in range(1, 40)]
    assert steps[0] <= FIRST_BACKOFF_SECONDS
    assert all(later >= earlier for earlier, later in pairwise(steps))
    assert steps[-1] <= MAX_BACKOFF_SECONDS <= 2.0
    assert steps[-1] > MAX_BACKOFF_SECONDS * 0.99


def test_the_jitter_waits_between_half_of_a_step_and_all_of_it() -> None:
    for failures in (1, 2, 3, 4, 50):
        least = backoff_seconds(failures, draw=lambda: LOW)
        most = backoff_seconds(failures, draw=lambda: HIGH)
        assert least == pytest.approx(most / (0.5 + 0.5 * HIGH) / 2)
    assert all(0 < backoff_seconds(n) <= MAX_BACKOFF_SECONDS for n in range(1, 100))
