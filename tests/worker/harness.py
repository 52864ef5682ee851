"""A worker wired to a scripted provider, fake tools and the test's clock and database."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar
from uuid import UUID

from pydantic import SecretStr

from backbeat.agents.routing import Providers
from backbeat.agents.tools.mcp_tools import McpToolbox
from backbeat.agents.tools.registry import TOOLS
from backbeat.domain.failures import RetryPolicy
from backbeat.domain.models import Run
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskDraft
from backbeat.services.worker import WorkQueue
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider
from backbeat.testing.fake_tools import RecordingMailer, StaticFetcher
from backbeat.wiring import Backbeat, make_outbox
from backbeat.worker.executor import Executor
from backbeat.worker.loop import Worker
from backbeat.worker.outbox import OutboxSender
from backbeat.worker.slack import SlackPoster
from backbeat.worker.webhooks import WebhookPoster
from tests.conftest import Tenant

T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


@dataclass
class Harness:
    backbeat: Backbeat
    clock: FakeClock
    provider: ScriptedProvider
    mailer: RecordingMailer
    queue: WorkQueue
    worker: Worker
    outbox: OutboxSender

    def new_task(self, tenant: Tenant, **fields: Any) -> UUID:
        caller = Caller(tenant.account_id, tenant.key_id(self.backbeat))
        draft = TaskDraft(
            title=fields.pop("title", "Pulse"),
            prompt=fields.pop("prompt", "Analyse genre trends"),
            schedule=fields.pop("schedule", "0 9 * * *"),
            artist_account_id=tenant.artist_id,
            model=fields.pop("model", "claude-sonnet-4-5"),
            **fields,
        )
        return self.backbeat.tasks.create(caller, draft).task.id

    def run_now(self, tenant: Tenant, task_id: UUID) -> Run:
        caller = Caller(tenant.account_id, tenant.key_id(self.backbeat))
        return self.backbeat.runs.trigger(caller, task_id)

    def get(self, run_id: str) -> Run:
        with self.backbeat.uow() as uow:
            found = uow.runs.get(run_id)
        assert found is not None
        return found

    async def work(self) -> int:
        """One step of the worker, then wait for what it claimed to finish."""
        claimed = await self.worker.step()
        await self.worker.wait_idle()
        return claimed


def make_harness(
    backbeat: Backbeat,
    clock: FakeClock,
    provider: ScriptedProvider | None = None,
    *,
    lease: timedelta = timedelta(seconds=30),
    concurrency: int = 4,
    grace: float = 5.0,
    mcp: McpToolbox | None = None,
    **settings: Any,
) -> Harness:
    provider = provider or ScriptedProvider()
    config = backbeat.settings.model_copy(
        update={"anthropic_api_key": SecretStr("sk-test"), **settings}
    )
    queue = WorkQueue(
        backbeat.uow,
        clock,
        lease=lease,
        retry=RetryPolicy(),
        rng=random.Random(7),
        metrics=backbeat.metrics,
        box=backbeat.box,
    )
    mailer = RecordingMailer()
    poster = WebhookPoster(allow_private=True, timeout_seconds=5)  # receivers on loopback
    slack = SlackPoster(allow_private=True, timeout_seconds=5)
    outbox = OutboxSender(
        make_outbox(backbeat, config, timedelta(seconds=10)), mailer, poster, slack
    )
    executor = Executor(
        queue,
        Providers(config, preset={"anthropic": provider}),
        config,
        clock,
        tools=TOOLS,
        fetcher=StaticFetcher(),
        outbox=outbox,
        metrics=backbeat.metrics,
        mcp=mcp,
    )
    worker = Worker(
        queue,
        executor,
        worker_id="test-worker",
        concurrency=concurrency,
        poll_seconds=0.02,
        shutdown_grace_seconds=grace,
    )
    return Harness(backbeat, clock, provider, mailer, queue, worker, outbox)
