"""What the core counts, as a port: services, the worker and the tools record through a
`Recorder` handed to them at wiring (`backbeat.wiring`), never through a process-global.

`backbeat.ops.metrics.Metrics` implements it with Prometheus; `NO_METRICS` records nothing,
for code (and tests) that do not look. Label values passed here must come from small fixed
sets (see `backbeat.ops.metrics`), never an id, a prompt or an address.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from backbeat.domain.failures import FailureKind
from backbeat.domain.runs import RunStatus, Trigger


class Recorder(Protocol):
    def run_created(self, trigger: Trigger, count: int = 1) -> None: ...
    def run_finished(self, status: RunStatus) -> None: ...
    def run_outcome(self, status: RunStatus, kind: FailureKind | None) -> None:
        """A run after an attempt ended: finished, or waiting to be retried after `kind`."""
        ...

    def fires_dispatched(self, lags: Iterable[float], skipped: int, over_plan: int = 0) -> None: ...
    def tick(self, seconds: float) -> None: ...
    def model_usage(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, cents: float | None
    ) -> None: ...
    def emails(self, sent: int = 0, refused: int = 0) -> None: ...
    def delivery(self, channel: str, state: str) -> None: ...
    def takeovers(self, count: int) -> None: ...
    def http_request(self, route: str, method: str, status: int, seconds: float) -> None: ...


class NoMetrics:
    """A recorder that records nothing."""

    def run_created(self, trigger: Trigger, count: int = 1) -> None:
        pass

    def run_finished(self, status: RunStatus) -> None:
        pass

    def run_outcome(self, status: RunStatus, kind: FailureKind | None) -> None:
        pass

    def fires_dispatched(self, lags: Iterable[float], skipped: int, over_plan: int = 0) -> None:
        pass

    def tick(self, seconds: float) -> None:
        pass

    def model_usage(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, cents: float | None
    ) -> None:
        pass

    def emails(self, sent: int = 0, refused: int = 0) -> None:
        pass

    def delivery(self, channel: str, state: str) -> None:
        pass

    def takeovers(self, count: int) -> None:
        pass

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        pass


NO_METRICS: Recorder = NoMetrics()
