"""The one backoff after database errors (domain.backoff), shared by the worker's loop, its
finish retries and in-attempt database steps, and the scheduler's loop: short, capped,
jittered, so that every process works again within seconds of the database's return and
processes do not retry in lockstep."""

from __future__ import annotations

import random
from itertools import pairwise

import pytest

from backbeat.domain import backoff
from backbeat.domain.backoff import FIRST_SECONDS, MAX_SECONDS

LOW, HIGH = 0.0, 0.999999  # the extremes of random.random()


class Fixed(random.Random):
    """A random source that always draws the same number."""

    def __init__(self, draw: float) -> None:
        super().__init__()
        self._draw = draw

    def random(self) -> float:
        return self._draw


def test_the_backoff_doubles_from_a_quarter_second_up_to_two_seconds() -> None:
    steps = [backoff.delay(failures, Fixed(HIGH)) for failures in range(1, 40)]
    assert steps[0] <= FIRST_SECONDS
    assert all(later >= earlier for earlier, later in pairwise(steps))
    assert steps[-1] <= MAX_SECONDS <= 2.0
    assert steps[-1] > MAX_SECONDS * 0.99


def test_the_ceilings_are_a_quarter_a_half_one_then_two_seconds() -> None:
    ceilings = [backoff.delay(failures, Fixed(1.0)) for failures in range(1, 8)]
    assert ceilings == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0, 2.0]


def test_the_jitter_waits_between_half_of_a_step_and_all_of_it() -> None:
    for failures in (1, 2, 3, 4, 50):
        least = backoff.delay(failures, Fixed(LOW))
        most = backoff.delay(failures, Fixed(HIGH))
        assert least == pytest.approx(most / (0.5 + 0.5 * HIGH) / 2)
    assert all(0 < backoff.delay(n) <= MAX_SECONDS for n in range(1, 100))


def test_no_failure_yet_waits_like_the_first_and_many_do_not_overflow() -> None:
    assert backoff.delay(0, Fixed(1.0)) == backoff.delay(1, Fixed(1.0)) == FIRST_SECONDS
    assert backoff.delay(-3, Fixed(1.0)) == FIRST_SECONDS
    assert backoff.delay(10**9, Fixed(1.0)) == MAX_SECONDS


def test_a_seeded_source_gives_the_same_waits_and_two_sources_differ() -> None:
    first = [backoff.delay(n, random.Random(7)) for n in range(1, 10)]
    again = [backoff.delay(n, random.Random(7)) for n in range(1, 10)]
    other = [backoff.delay(n, random.Random(8)) for n in range(1, 10)]
    assert first == again
    assert first != other
