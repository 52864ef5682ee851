"""Prometheus metrics: what the scheduler, the workers and the API count, and how /metrics
reads them back (backbeat.api.routes.metrics serves them, unauthenticated, no tenant data).

Names follow Prometheus conventions: the `backbeat_` prefix, units in the name, `_total` on
counters. Label values come from small fixed sets (a trigger, a run status, a failure kind,
a provider, a priced model or "other", a route template), never an id, a prompt or an email
address, so the number of series stays bounded whatever the traffic.

One process (the default). Each process counts in memory; `backbeat serve`, which runs the
API, a scheduler and a worker in one process, shows everything at its /metrics. Several
processes on a host share their counts through files in BACKBEAT_METRICS_DIR: see
`backbeat.ops.metrics_files`.

The queue gauges (`backbeat_runs_queued`, `backbeat_runs_oldest_queued_age_seconds`,
`backbeat_runs_executing`) are not counted by anyone: the API process reads them from the
database at each scrape, so they are right however many processes run, and never added up
across processes.

`Metrics` implements the domain's `Recorder` port (`backbeat.domain.metrics`); the wiring
hands one to every service, the worker and the HTTP middleware, and /metrics reads the same
one back. A long-running command makes it with `configure(settings.metrics_dir)` at process
start, before anything records (the `serve`, `scheduler` and `worker` commands do); any
other `build()` counts into a fresh in-memory set of its own.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, values
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from backbeat.domain.failures import FailureKind
from backbeat.domain.runs import RunStatus, Trigger
from backbeat.ops import metrics_files

# Fire lag: from a millisecond (on time) to an hour (the default grace window).
FIRE_LAG_BUCKETS = (
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0,
)  # fmt: skip
TICK_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

OTHER = "other"  # the label value for anything outside a bounded set
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
FINISHED_STATUSES = (
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CRASHED,
    RunStatus.SYSTEM_FAILURE,
    RunStatus.CANCELED,
)

# Multiprocess files cannot hold `_created` series; leave them out in both modes alike.
disable_created_metrics()  # type: ignore[no-untyped-call]


class Metrics:
    """Every metric Backbeat records, and the methods its code records them through.

    With `directory` (multiprocess mode) the values live in files there, and `collect()`
    reads every process's files; without it, in this process's own registry.
    """

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory
        self.registry = CollectorRegistry()
        into = self.registry if directory is None else None
        self.runs_created = Counter(
            "backbeat_runs_created_total",
            "Runs created, by trigger (scheduled, catch_up, manual).",
            ["trigger"],
            registry=into,
        )
        self.runs_finished = Counter(
            "backbeat_runs_finished_total",
            "Runs that reached a final status, by that status.",
            ["status"],
            registry=into,
        )
        self.runs_over_budget = Counter(
            "backbeat_runs_over_budget_total",
            "Runs stopped by a budget: their cost cap, or their account's monthly budget.",
            registry=into,
        )
        self.fire_lag = Histogram(
            "backbeat_fire_lag_seconds",
            "From a scheduled fire time to its run row committed.",
            buckets=FIRE_LAG_BUCKETS,
            registry=into,
        )
        self.fires_skipped = Counter(
            "backbeat_fires_skipped_total",
            "Missed fires older than the grace window, skipped rather than run.",
            registry=into,
        )
        self.fires_over_plan = Counter(
            "backbeat_fires_over_plan_total",
            "Fires not run because the task's owner's plan does not allow the task (more "
            "enabled tasks than the plan's limit, or a schedule more frequent than it allows).",
            registry=into,
        )
        self.attempts_retried = Counter(
            "backbeat_attempts_retried_total",
            "Attempts that failed and left their run to be tried again, by failure kind.",
            ["kind"],
            registry=into,
        )
        self.model_tokens = Counter(
            "backbeat_model_tokens_total",
            "Model tokens used, by provider, model (or other) and direction (input, output).",
            ["provider", "model", "direction"],
            registry=into,
        )
        self.model_cost = Counter(
            "backbeat_model_cost_cents_total",
            "What model calls cost in US cents, from the price table, by provider and model.",
            ["provider", "model"],
            registry=into,
        )
        self.emails_sent = Counter(
            "backbeat_emails_sent_total",
            "Emails handed to the SMTP server, one per recipient: confirmed (250 after the "
            "message) or unconfirmed (it may have arrived; never sent again).",
            registry=into,
        )
        self.deliveries = Counter(
            "backbeat_deliveries_total",
            "Outbox deliveries reaching a state, by channel and state (sent, unconfirmed, "
            "pending again after a passing failure, failed, refused).",
            ["channel", "state"],
            registry=into,
        )
        self.emails_refused = Counter(
            "backbeat_emails_refused_total",
            "Recipients send_email refused (not the owner or the owner's organization, or "
            "not an address).",
            registry=into,
        )
        self.scheduler_ticks = Counter(
            "backbeat_scheduler_ticks_total", "Scheduler ticks completed.", registry=into
        )
        self.scheduler_tick_duration = Histogram(
            "backbeat_scheduler_tick_duration_seconds",
            "How long a completed scheduler tick took.",
            buckets=TICK_BUCKETS,
            registry=into,
        )
        self.lease_takeovers = Counter(
            "backbeat_lease_takeovers_total",
            "Runs taken back from a worker whose lease expired (it stopped renewing it).",
            registry=into,
        )
        self.http_requests = Counter(
            "backbeat_http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=into,
        )
        self.http_duration = Histogram(
            "backbeat_http_request_duration_seconds",
            "HTTP request latency, by route template and method.",
            ["route", "method"],
            buckets=HTTP_BUCKETS,
            registry=into,
        )
        # Series that exist from the start, at zero, so rates and alerts see them.
        for trigger in Trigger:
            self.runs_created.labels(trigger.value)
        for status in FINISHED_STATUSES:
            self.runs_finished.labels(status.value)
        for kind in FailureKind:
            if kind.retryable:
                self.attempts_retried.labels(kind.value)

    # Recording.

    def run_created(self, trigger: Trigger, count: int = 1) -> None:
        if count:
            self.runs_created.labels(trigger.value).inc(count)

    def run_finished(self, status: RunStatus) -> None:
        self.runs_finished.labels(status.value).inc()

    def attempt_retried(self, kind: FailureKind) -> None:
        self.attempts_retried.labels(kind.value).inc()

    def run_outcome(self, status: RunStatus, kind: FailureKind | None) -> None:
        """A run after an attempt ended: finished, or waiting to be retried after `kind`."""
        if status.is_final:
            self.run_finished(status)
            if kind is FailureKind.BUDGET:
                self.runs_over_budget.inc()
        elif status is RunStatus.REATTEMPTING and kind is not None:
            self.attempt_retried(kind)

    def fires_dispatched(self, lags: Iterable[float], skipped: int, over_plan: int = 0) -> None:
        for lag in lags:
            self.fire_lag.observe(max(0.0, lag))
        if skipped:
            self.fires_skipped.inc(skipped)
        if over_plan:
            self.fires_over_plan.inc(over_plan)

    def tick(self, seconds: float) -> None:
        self.scheduler_ticks.inc()
        self.scheduler_tick_duration.observe(seconds)

    def model_usage(
        self, provider: str, model: str, input_tokens: int, output_tokens: int, cents: float | None
    ) -> None:
        """Tokens (and the cost, when known) of an attempt's model calls. `model` must already
        be bounded (see `model_label`)."""
        if input_tokens:
            self.model_tokens.labels(provider, model, "input").inc(input_tokens)
        if output_tokens:
            self.model_tokens.labels(provider, model, "output").inc(output_tokens)
        if cents:
            self.model_cost.labels(provider, model).inc(cents)

    def emails(self, sent: int = 0, refused: int = 0) -> None:
        if sent:
            self.emails_sent.inc(sent)
        if refused:
            self.emails_refused.inc(refused)

    def delivery(self, channel: str, state: str) -> None:
        self.deliveries.labels(channel, state).inc()

    def takeovers(self, count: int) -> None:
        if count:
            self.lease_takeovers.inc(count)

    def http_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in HTTP_METHODS else OTHER
        self.http_requests.labels(route, method, str(status)).inc()
        self.http_duration.labels(route, method).observe(seconds)

    # Reading.

    def collectors(self) -> list[Collector]:
        """What /metrics shows of the counted metrics: this process's, or the host's."""
        if self.directory is None:
            return [self.registry]
        return [metrics_files.DirectoryCollector(self.directory)]


def model_label(model: str, price_known: bool, defaults: Iterable[str] = ()) -> str:
    """The `model` label: the provider's model name when the price table knows it or it is
    the configured default model, else "other" (any string a task names would otherwise
    become a series of its own)."""
    return model if price_known or model in defaults else OTHER


class Scrape:
    """The collectors of one /metrics answer, as one collector."""

    def __init__(self, *sources: Collector) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Metric]:
        for source in self._sources:
            yield from source.collect()


# The process's metrics, when they live in files (multiprocess mode).

_lock = threading.Lock()
_configured: Metrics | None = None
_exit_hooked: set[int] = set()


def configure(directory: Path | None) -> Metrics:
    """The metrics a long-running process counts into, for `backbeat.wiring.build`: in
    `directory` (multiprocess mode: see `backbeat.ops.metrics_files`), or in this process's
    memory when None. Call once at process start, before anything records."""
    global _configured
    with _lock:
        if _configured is not None and _configured.directory is not None:
            metrics_files.leave(_configured.directory)
        _configured = None
        values.ValueClass = values.MutexValue
        if directory is None:
            return Metrics()
        directory = metrics_files.enter(directory)
        pid = os.getpid()
        if pid not in _exit_hooked:
            _exit_hooked.add(pid)
            atexit.register(_mark_dead, pid)
        _configured = Metrics(directory)
        return _configured


def _mark_dead(pid: int) -> None:
    metrics = _configured
    if metrics is not None and metrics.directory is not None:
        metrics_files.mark_dead(pid, metrics.directory)
