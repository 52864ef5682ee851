"""One attempt of one run: resolve the model, gather context, run the tool loop under the
time limit, and turn whatever happened into an Outcome. Never touches a transaction while
the model or a tool is working; database reads and writes go through WorkQueue in threads."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Sequence
from typing import Any

from backbeat.agents.loop import Progress, run_agent
from backbeat.agents.pricing import cost_in_cents
from backbeat.agents.prompt import system_prompt
from backbeat.agents.routing import Providers, Route, resolve
from backbeat.agents.tools.base import Tool, ToolContext, WebFetcher
from backbeat.config import Settings
from backbeat.domain.clock import Clock
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.ops.logs import REDACT
from backbeat.ops.metrics import model_label
from backbeat.services.worker import Claim, Outcome, WorkQueue
from backbeat.worker.db import in_thread
from backbeat.worker.outbox import OutboxSender

PREVIOUS_OUTPUTS = 3

log = logging.getLogger("backbeat.worker")


class Executor:
    def __init__(
        self,
        queue: WorkQueue,
        providers: Providers,
        settings: Settings,
        clock: Clock,
        *,
        tools: Sequence[Tool],
        fetcher: WebFetcher,
        outbox: OutboxSender,
        metrics: Recorder = NO_METRICS,
    ) -> None:
        self._queue = queue
        self._metrics = metrics
        self._providers = providers
        self._settings = settings
        self._default_models = _default_model_names(settings)  # for metric labels
        self._clock = clock
        self._tools = tools
        self._fetcher = fetcher
        self.outbox = outbox

    async def aclose(self) -> None:
        await self._providers.aclose()

    async def execute(self, claim: Claim) -> Outcome:
        progress = Progress()
        route: Route | None = None
        context: ToolContext | None = None
        limit = self._settings.run_timeout_seconds

        def failed(failure: AttemptFailed, trace: str | None = None) -> Outcome:
            """A failed attempt keeps its record: what it did, spent and said so far (none
            when it never reached the model)."""
            cost = _cost(route, progress)
            record = (
                _output(claim, route, progress, None, context, cost)
                if progress.usage.requests or progress.tool_calls
                else None
            )
            return Outcome(record, failure, cost or 0.0, trace)

        try:
            try:
                async with asyncio.timeout(limit):
                    route = resolve(_payload(claim).get("model") or "", self._settings)
                    context = await self._context(claim)
                    text = await self._attempt(claim, route, progress, context)
            except TimeoutError:
                return failed(
                    AttemptFailed(
                        FailureKind.TIMEOUT,
                        f"the attempt took longer than {limit:g} s (BACKBEAT_RUN_TIMEOUT_SECONDS)",
                        name="AttemptTimeout",
                    )
                )
            except AttemptFailed as failure:
                failure.message = REDACT(failure.message)  # stored and shown: never a secret
                return failed(failure)
            except Exception as exc:  # a bug in Backbeat: record it with its trace, no retry
                message = REDACT(repr(exc))
                bug = AttemptFailed(FailureKind.INTERNAL, message, name=type(exc).__name__)
                return failed(bug, REDACT(traceback.format_exc()))
            cost = _cost(route, progress)
            output = _output(claim, route, progress, text, context, cost)
            return Outcome(output=output, failure=None, cost_in_cents=cost or 0.0)
        finally:  # whatever happened, abandoned attempts too: the tokens were spent
            self._count_usage(route, progress)

    def _count_usage(self, route: Route | None, progress: Progress) -> None:
        usage = progress.usage
        if route is None or usage.requests == 0:
            return
        cents = cost_in_cents(route, usage)
        model = model_label(route.model_name, cents is not None, self._default_models)
        self._metrics.model_usage(
            route.provider_name, model, usage.input_tokens, usage.output_tokens, cents
        )

    async def _context(self, claim: Claim) -> ToolContext:
        run = claim.run
        facts = await in_thread(self._queue.context, run, PREVIOUS_OUTPUTS)

        async def previous_outputs(limit: int) -> list[dict[str, Any]]:
            return await in_thread(self._queue.previous_outputs, run, limit)

        return ToolContext(
            run_id=run.id,
            task_id=run.task_id,
            account_id=run.account_id,
            artist=facts.artist,
            owner_email=facts.owner_email,
            team_emails=facts.team_emails,
            previous_outputs=previous_outputs,
            fetcher=self._fetcher,
            outbox=self.outbox.for_attempt(run.id, claim.token),
            previous=facts.previous_outputs,
            metrics=self._metrics,
        )

    async def _attempt(
        self, claim: Claim, route: Route, progress: Progress, context: ToolContext
    ) -> str:
        payload = _payload(claim)
        provider = self._providers.get(route)
        system = system_prompt(
            title=str(payload.get("title") or ""),
            artist=context.artist,
            fire_time=payload.get("fire_time"),
            timezone=payload.get("timezone"),
            now=self._clock.now(),
            previous=context.previous,
        )
        return await run_agent(
            provider,
            route.model_name,
            system,
            str(payload.get("prompt") or ""),
            self._tools,
            context,
            progress,
            max_turns=self._settings.max_turns,
            request_timeout=min(120.0, self._settings.run_timeout_seconds),
        )


def _default_model_names(settings: Settings) -> tuple[str, ...]:
    """The configured default model, as written and as its provider names it."""
    try:
        return (settings.default_model, resolve(settings.default_model, settings).model_name)
    except AttemptFailed:
        return (settings.default_model,)


def _payload(claim: Claim) -> dict[str, Any]:
    return claim.run.payload or {}


def _cost(route: Route | None, progress: Progress) -> float | None:
    """Cents spent, from token usage and the price table; None if the model's price is unknown."""
    if route is None or progress.usage.requests == 0:
        return 0.0
    return cost_in_cents(route, progress.usage)


def _output(
    claim: Claim,
    route: Route | None,
    progress: Progress,
    text: str | None,
    context: ToolContext | None,
    cost: float | None,
) -> dict[str, Any]:
    """The attempt's record. `text` is None when it failed: then `partial_text` holds what the
    model had said so far. Deliveries are the outbox's, added when the run is read."""
    record: dict[str, Any] = {
        "text": text,
        "model": _payload(claim).get("model"),
        "provider": None if route is None else route.provider_name,
        "provider_model": None if route is None else route.model_name,
        "turns": progress.turns,
        "tool_calls": progress.tool_calls,
        "emails_refused": [] if context is None else context.emails_refused,
        "pages_fetched": [] if context is None else context.pages_fetched,
        "usage": {
            "input_tokens": progress.usage.input_tokens,
            "output_tokens": progress.usage.output_tokens,
            "requests": progress.usage.requests,
        },
        "price_known": cost is not None,
    }
    if text is None:
        record["partial_text"] = progress.text or None
    return record
