"""One attempt of one run: resolve the model, gather context, run the tool loop under the
time limit, and turn whatever happened into an Outcome. Never touches a transaction while
the model or a tool is working; database reads and writes go through WorkQueue in threads."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from backbeat.agents.base import ModelProvider
from backbeat.agents.budget import BudgetedProvider
from backbeat.agents.loop import Progress, run_agent
from backbeat.agents.pricing import cost_in_cents
from backbeat.agents.prompt import system_prompt
from backbeat.agents.routing import Providers, Route, resolve
from backbeat.agents.tools.base import Tool, ToolContext, WebFetcher
from backbeat.agents.tools.mcp_tools import McpToolbox, recorded_names
from backbeat.agents.verdict import judge
from backbeat.config import Settings
from backbeat.domain.agent_settings import AgentSettings, RunBudget
from backbeat.domain.clock import Clock
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.metrics import NO_METRICS, Recorder
from backbeat.domain.reports import Report
from backbeat.domain.task_delivery import Verdict
from backbeat.ops.logs import REDACT
from backbeat.ops.metrics import model_label
from backbeat.services.worker import Claim, Outcome, RunContext, WorkQueue
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
        mcp: McpToolbox | None = None,
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
        self._mcp = mcp  # tools from MCP servers (None: a task listing one cannot run here)

    async def aclose(self) -> None:
        await self._providers.aclose()
        if self._mcp is not None:
            await self._mcp.aclose()

    async def execute(self, claim: Claim) -> Outcome:
        progress = Progress()
        route: Route | None = None
        context: ToolContext | None = None
        verdict: Verdict | None = None
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
                    facts = await in_thread(self._queue.context, claim.run, PREVIOUS_OUTPUTS)
                    context = self._context(claim, facts)
                    plan = await self._plan(claim, route, facts, progress)
                    text = await self._attempt(claim, plan, progress, context)
                    if facts.compares:
                        verdict = await self._verdict(plan, facts.last_report, text, progress)
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
            if verdict is not None:
                output["verdict"] = verdict.as_json()
            return Outcome(output=output, failure=None, cost_in_cents=cost or 0.0)
        finally:  # whatever happened, abandoned attempts too: the tokens were spent
            self._count_usage(route, progress)

    def _count_usage(self, route: Route | None, progress: Progress) -> None:
        usage = progress.usage
        if route is None or usage.requests == 0:
            return
        cents = _cost(route, progress)  # priced as the run is
        model = model_label(route.model_name, cents is not None, self._default_models)
        self._metrics.model_usage(
            route.provider_name, model, usage.input_tokens, usage.output_tokens, cents
        )

    async def _plan(
        self, claim: Claim, route: Route, facts: RunContext, progress: Progress
    ) -> _Plan:
        """The provider (kept within the run's budget), tools and per-call limits of a run,
        from its task's agent settings and the worker's."""
        agent = facts.agent
        provider: ModelProvider = self._providers.get(route)
        cap = None if agent.max_run_cost_usd is None else agent.max_run_cost_usd * 100
        budget = RunBudget(cap, facts.monthly_left_cents)
        if budget.cents is not None:
            earlier = claim.run.cost_in_cents  # this run's earlier attempts count too

            def spent() -> float | None:
                now = _cost(route, progress)
                return None if now is None else earlier + now

            provider = BudgetedProvider(provider, route, budget, spent)
        timeout = agent.model_timeout_seconds or self._settings.model_timeout_seconds
        return _Plan(
            route,
            provider,
            await self._tools_for(agent, claim, facts.scope),
            agent.max_output_tokens or self._settings.max_output_tokens,
            min(timeout, self._settings.run_timeout_seconds),
        )

    async def _tools_for(
        self, agent: AgentSettings, claim: Claim, scope: tuple[UUID, ...] | None
    ) -> tuple[Tool, ...]:
        """The tools the task allows (all this worker has when it names none), those of MCP
        servers (`SERVER/tool`) asked of their servers now (agents.tools.mcp_tools)."""
        if agent.tools is None:
            return tuple(self._tools)
        have: dict[str, Tool] = {tool.spec.name: tool for tool in self._tools}
        missing = [name for name in agent.tools if name not in have and "/" not in name]
        if missing:
            raise AttemptFailed(
                FailureKind.CONFIGURATION,
                f"the task's tool {missing[0]} is not available on this worker"
                + (
                    " (no search API: BACKBEAT_SEARCH_PROVIDER)"
                    if missing[0] == "web_search"
                    else ""
                ),
                name="ToolUnavailable",
            )
        if agent.mcp_tools:
            if self._mcp is None:
                raise AttemptFailed(
                    FailureKind.CONFIGURATION,
                    f"the task's tool {agent.mcp_tools[0]} is not available: this worker has "
                    "no MCP client",
                    name="ToolUnavailable",
                )
            found = await self._mcp.tools(claim.run.account_id, agent.mcp_tools, scope)
            have.update(found)
        return tuple(have[name] for name in agent.tools)

    async def _verdict(
        self, plan: _Plan, last: Report | None, text: str, progress: Progress
    ) -> Verdict:
        """Whether the report changed since the last one the team got (domain.task_delivery)."""
        if last is None:
            return Verdict(True, note="the first report")
        return await judge(
            plan.provider,
            plan.route.model_name,
            last.text,
            last.run_id,
            text,
            progress,
            timeout=plan.timeout,
        )

    def _context(self, claim: Claim, facts: RunContext) -> ToolContext:
        run = claim.run

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
        self, claim: Claim, plan: _Plan, progress: Progress, context: ToolContext
    ) -> str:
        payload = _payload(claim)
        system = system_prompt(
            title=str(payload.get("title") or ""),
            artist=context.artist,
            fire_time=payload.get("fire_time"),
            timezone=payload.get("timezone"),
            now=self._clock.now(),
            previous=context.previous,
        )
        try:
            return await run_agent(
                plan.provider,
                plan.route.model_name,
                system,
                str(payload.get("prompt") or ""),
                plan.tools,
                context,
                progress,
                max_turns=self._settings.max_turns,
                max_output_tokens=plan.max_output_tokens,
                request_timeout=plan.timeout,
            )
        finally:  # however it ended: the record names MCP tools as the task does
            recorded_names(progress.tool_calls, plan.tools)


@dataclass(frozen=True, slots=True)
class _Plan:
    route: Route
    provider: ModelProvider
    tools: tuple[Tool, ...]
    max_output_tokens: int
    timeout: float


def _default_model_names(settings: Settings) -> tuple[str, ...]:
    """The configured default model, as written and as its provider names it."""
    try:
        return (settings.default_model, resolve(settings.default_model, settings).model_name)
    except AttemptFailed:
        return (settings.default_model,)


def _payload(claim: Claim) -> dict[str, Any]:
    return claim.run.payload or {}


def _cost(route: Route | None, progress: Progress) -> float | None:
    """Cents spent, from token usage and the price table; None if the model's price is unknown.
    The model priced is the one the server said answered, when it said."""
    if route is None or progress.usage.requests == 0:
        return 0.0
    return cost_in_cents(route, progress.usage, progress.model)


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
        # The model the server said answered, else the one asked for: a local server may
        # answer `anthropic/claude-sonnet-4.6` with whatever model it has.
        "provider_model": progress.model or (None if route is None else route.model_name),
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
