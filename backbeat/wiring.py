"""The composition root: settings in, a wired Backbeat out. Nothing else constructs services."""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING
from uuid import UUID

from sqlalchemy import Engine

from backbeat.config import Settings
from backbeat.domain.clock import Clock, SystemClock
from backbeat.domain.deliveries import RetryPlan
from backbeat.domain.dispatch import RunDefaults
from backbeat.domain.failures import RetryPolicy
from backbeat.ops import logs
from backbeat.ops.metrics import Metrics
from backbeat.services.admin import AdminService
from backbeat.services.keys import KeyService
from backbeat.services.lookups import LookupService
from backbeat.services.mcp_servers import McpServerService
from backbeat.services.outbox import Outbox
from backbeat.services.runs import RunService
from backbeat.services.scheduler import Scheduler, SchedulerPolicy
from backbeat.services.stats import StatsService
from backbeat.services.tasks import TaskService
from backbeat.services.usage import UsageService
from backbeat.services.webhooks import RunEvents, WebhookService
from backbeat.store.engine import make_engine
from backbeat.store.sealing import AesSecretBox
from backbeat.store.uow import SqlUnitOfWork

if TYPE_CHECKING:
    from backbeat.domain.mcp_servers import McpServer
    from backbeat.worker.loop import Worker


class Notifier:
    """Callbacks to run when something happens (a run was queued): a tiny in-process signal."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[], None]] = []

    def subscribe(self, callback: Callable[[], None]) -> None:
        self._subscribers.append(callback)

    def __call__(self) -> None:
        for callback in list(self._subscribers):
            callback()


@dataclass
class Backbeat:
    settings: Settings
    engine: Engine
    clock: Clock
    tasks: TaskService
    runs: RunService
    admin: AdminService
    scheduler: Scheduler
    lookups: LookupService
    stats: StatsService
    # What this process counts (Prometheus); every service records into it. /metrics reads it.
    metrics: Metrics = field(default_factory=Metrics)
    # Set when a task's timing changes, so an in-process scheduler wakes before its nap ends.
    schedule_changed: threading.Event = field(default_factory=threading.Event)
    # Called when runs were queued, so an in-process worker looks before its next poll.
    runs_queued: Notifier = field(default_factory=Notifier)
    # Checks presented keys with the secret of the settings held now (`serve` replaces them).
    keys: KeyService = field(init=False)

    # Seals the secrets accounts give (webhook signing secrets, Slack URLs) under the server
    # secret of the settings held now.
    box: AesSecretBox = field(default_factory=lambda: AesSecretBox(lambda: b""))
    webhooks: WebhookService = field(init=False)
    usage: UsageService = field(init=False)  # model spend against monthly budgets
    mcp_servers: McpServerService = field(init=False)  # the operator's MCP servers

    def __post_init__(self) -> None:
        self.keys = KeyService(self.uow, self.clock, lambda: self.settings.secret)
        self.box.follow(lambda: self.settings.secret)
        self.webhooks = WebhookService(self.uow, self.clock, self.box)
        self.usage = UsageService(self.uow, self.clock)
        self.mcp_servers = McpServerService(self.uow, self.clock, self.box)

    def uow(self, write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, write=write)

    def close(self) -> None:
        self.engine.dispose()


def build_worker(backbeat: Backbeat, *, worker_id: str | None = None) -> Worker:
    """A worker over this Backbeat's database, with the configured providers and tools."""
    # Imported here: a process that runs no worker (a scheduler, the CLI) need not load them.
    from backbeat.agents.routing import Providers, configured_providers
    from backbeat.agents.tools.email import mailer_from_settings
    from backbeat.agents.tools.mcp_client import SdkMcpClient
    from backbeat.agents.tools.mcp_tools import McpToolbox
    from backbeat.agents.tools.registry import TOOLS
    from backbeat.agents.tools.search import searcher_from_settings, web_search_tool
    from backbeat.agents.tools.web import HttpFetcher
    from backbeat.services.worker import WorkQueue
    from backbeat.store.wakeups import listener_for
    from backbeat.worker.db import in_thread
    from backbeat.worker.executor import Executor
    from backbeat.worker.loop import Worker
    from backbeat.worker.outbox import OutboxSender
    from backbeat.worker.slack import SlackPoster
    from backbeat.worker.webhooks import WebhookPoster

    # The model SDKs take seconds to import. Providers imports them on first use, which in a
    # worker is inside the event loop, at its first attempt: the loop would stall there,
    # renewing no lease, long enough on a busy machine for other workers to take its runs
    # over. Load them now, before the loop claims anything: only those of the configured
    # providers (a runtime without, say, an Anthropic key never routes a run to Anthropic, and
    # each SDK costs a second or more of CPU to import in every worker process).
    sdks = {"anthropic": "backbeat.agents.anthropic", "openai": "backbeat.agents.openai"}
    sdks["compatible"] = sdks["openai"]  # OpenAI-compatible endpoints go through its SDK
    for name in configured_providers(backbeat.settings):
        importlib.import_module(sdks[name])
    # Likewise the price table (about 0.2 s to load on first use).
    from backbeat.agents.base import Usage
    from backbeat.agents.pricing import cost_in_cents
    from backbeat.agents.routing import Route

    cost_in_cents(Route("anthropic", "claude-sonnet-4-6"), Usage(1, 1, 1))

    async def mcp_servers(
        account_id: UUID, names: list[str], scope: tuple[UUID, ...] | None
    ) -> Mapping[str, McpServer]:
        """The MCP servers of `names` a run's account may use now, read in a thread (retried
        through a database restart); their opened header values are masked in every log line
        from now on."""
        found = await in_thread(backbeat.mcp_servers.usable, account_id, names, scope)
        logs.REDACT.add(value for server in found.values() for _, value in server.headers)
        return found

    settings = backbeat.settings
    mailer = mailer_from_settings(settings)
    searcher = searcher_from_settings(settings)
    outbox = make_outbox(backbeat, settings, mailer.longest_send if mailer else timedelta(0))
    queue = WorkQueue(
        backbeat.uow,
        backbeat.clock,
        lease=timedelta(seconds=settings.lease_seconds),
        retry=RetryPolicy(),
        metrics=backbeat.metrics,
        events=RunEvents(settings.public_url),
        box=backbeat.box,
    )
    executor = Executor(
        queue,
        Providers(settings, limited=True),
        settings,
        backbeat.clock,
        tools=TOOLS if searcher is None else (*TOOLS, web_search_tool(searcher)),
        fetcher=HttpFetcher(
            allow_private=settings.fetch_allow_private,
            max_bytes=settings.fetch_max_bytes,
            timeout_seconds=settings.fetch_timeout_seconds,
        ),
        outbox=OutboxSender(
            outbox,
            mailer,
            WebhookPoster(
                allow_private=settings.webhook_allow_private,
                timeout_seconds=settings.webhook_timeout_seconds,
            ),
            SlackPoster(
                allow_private=settings.webhook_allow_private,
                timeout_seconds=settings.webhook_timeout_seconds,
            ),
        ),
        metrics=backbeat.metrics,
        mcp=McpToolbox(
            SdkMcpClient(timeout_seconds=settings.mcp_timeout_seconds),
            mcp_servers,
            max_output_chars=settings.mcp_max_output_chars,
        ),
    )
    worker = Worker(
        queue,
        executor,
        worker_id=worker_id,
        concurrency=settings.worker_concurrency,
        poll_seconds=settings.worker_poll_seconds,
        shutdown_grace_seconds=settings.shutdown_grace_seconds,
        database_threads=settings.db_pool_size,
        outbox_poll_seconds=settings.outbox_poll_seconds,
        # On PostgreSQL, woken by runs queued in any process (store/wakeups.py).
        wakeups=listener_for(backbeat.engine) if settings.worker_listen else None,
    )
    backbeat.runs_queued.subscribe(worker.notify)
    return worker


def make_outbox(backbeat: Backbeat, settings: Settings, longest_send: timedelta) -> Outbox:
    """The outbox over this Backbeat's database, retrying as the settings say."""
    return Outbox(
        backbeat.uow,
        backbeat.clock,
        plan=RetryPlan(
            first=timedelta(seconds=settings.outbox_retry_first_seconds),
            longest=timedelta(seconds=settings.outbox_retry_max_seconds),
            tries=settings.outbox_max_tries,
        ),
        # A send that has not reported back after twice the longest it can take died with
        # its sender: it counts as unconfirmed.
        sending_for=2 * longest_send,
        metrics=backbeat.metrics,
        webhook_plan=RetryPlan.schedule(
            tuple(timedelta(seconds=wait) for wait in settings.webhook_retry_waits)
        ),
        webhook_sending_for=timedelta(seconds=2 * settings.webhook_timeout_seconds),
        box=backbeat.box,
    )


def scheduler_policy(settings: Settings) -> SchedulerPolicy:
    return SchedulerPolicy(
        grace=timedelta(seconds=settings.misfire_grace_seconds),
        runs=run_defaults(settings),
    )


def run_defaults(settings: Settings) -> RunDefaults:
    return RunDefaults(
        default_model=settings.default_model,
        max_attempts=settings.max_attempts,
        allow_overlap=settings.allow_task_overlap,
    )


def build(
    settings: Settings,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    metrics: Metrics | None = None,
) -> Backbeat:
    """`metrics`: what the process counts into (`backbeat.ops.metrics.configure` makes the
    one of a long-running process); by default a fresh, in-memory set of its own."""
    clock = clock or SystemClock(settings.clock_start)
    metrics = metrics or Metrics()
    events = RunEvents(settings.public_url)
    box = AesSecretBox(lambda: settings.secret)  # follows the Backbeat's settings once built
    engine = engine or make_engine(settings.database_url, pool_size=settings.db_pool_size)
    schedule_changed = threading.Event()
    runs_queued = Notifier()

    def uow(write: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, write=write)

    return Backbeat(
        settings=settings,
        engine=engine,
        clock=clock,
        tasks=TaskService(
            uow,
            clock,
            on_schedule_change=schedule_changed.set,
            billing_url=settings.billing_url,
            metrics=metrics,
            events=events,
            box=box,
        ),
        runs=RunService(
            uow,
            clock,
            run_defaults(settings),
            on_queued=runs_queued,
            metrics=metrics,
            events=events,
        ),
        admin=AdminService(uow, clock, lambda: settings.secret),
        scheduler=Scheduler(uow, clock, scheduler_policy(settings), metrics=metrics),
        lookups=LookupService(uow, clock),
        stats=StatsService(uow, clock),
        metrics=metrics,
        box=box,
        schedule_changed=schedule_changed,
        runs_queued=runs_queued,
    )


def warn_if_rerouted(config: Settings) -> None:
    """A warning when the default model goes to another provider than its name says: a
    local server answering `anthropic/claude-sonnet-4.6` with its own model, say."""
    from backbeat.agents.routing import rerouted  # the routing rules, loaded only here

    why = rerouted(config.default_model, config)
    if why is not None:
        logging.getLogger("backbeat.serve").warning(
            "the default model (BACKBEAT_DEFAULT_MODEL) %s",
            why,
            extra={"event": "config.default_model_rerouted", "model": config.default_model},
        )
