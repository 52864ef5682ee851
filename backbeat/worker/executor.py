"""One attempt of one run: resolve the model, gather context, run the tool loop under the
time limit, and turn whatever happened into an Outcome. Never touches a transaction while
the model or a tool is working; database reads and writes go through WorkQueue in threads."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError, OperationalError

from backbeat import metrics
from backbeat.agents.loop import Progress, run_agent
from backbeat.agents.pricing import cost_in_cents
from backbeat.agents.prompt import system_prompt
from backbeat.agents.routing import Providers, Route, resolve
from backbeat.agents.tools.base import Mailer, Tool, ToolContext, WebFetcher
from backbeat.config import Settings
from backbeat.domain.clock import Clock
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.logs import REDACT
from backbeat.services.worker import Claim, Outcome, WorkQueue

PREVIOUS_OUTPUTS = 3
DATABASE_TRIES = 5  # waits of 0.5, 1, 2 and 4 s between them: a database restart's worth

log = logging.getLogger("backbeat.worker")
T = TypeVar("T")


async def _database(step: Callable[..., T], *args: Any) -> T:
    """A WorkQueue step, in a thread. A lost database connection (a restart, a failover) is no
    fault of the run: the step is tried again, with backoff, as the loop retries its own; if
    the database stays away, the attempt fails as retryable (DatabaseUnavailable) rather than
    as a bug. Every step is a read or an idempotent write, except the email ledger's claim:
    if its commit landed but the answer was lost, the retry finds the claim taken and treats
    the email as sent (at most once, never twice)."""
    for attempt in range(1, DATABASE_TRIES + 1):
        try:
            return await asyncio.to_thread(step, *args)
        except DBAPIError as exc:
            if not isinstance(exc, OperationalError) and not exc.connection_invalidated:
                raise  # not the connection: a bug, recorded as one
            if attempt == DATABASE_TRIES:
                reason = str(exc.orig or exc).strip().splitlines()[0]
                raise AttemptFailed(
                    FailureKind.NETWORK,
                    f"the database was unavailable during the attempt: {reason}",
                    name="DatabaseUnavailable",
                ) from None
            log.warning(
                "database unavailable during an attempt; retrying",
                extra={"event": "attempt.db_retry", "error": str(exc)[:200]},
            )
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


class LedgerForRun:
    """The email ledger of one run, over the database (see tools.base.EmailLedger)."""

    def __init__(self, queue: WorkQueue, run_id: str) -> None:
        self._queue = queue
        self._run_id = run_id

    async def claim(self, recipient: str, subject: str) -> bool:
        return await _database(self._queue.claim_email, self._run_id, recipient, subject)

    async def mark_sent(self, recipient: str) -> None:
        await _database(self._queue.settle_email, self._run_id, recipient, True, None)

    async def release(self, recipient: str, error: str) -> None:
        await _database(self._queue.settle_email, self._run_id, recipient, False, error)


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
        mailer: Mailer | None,
    ) -> None:
        self._queue = queue
        self._providers = providers
        self._settings = settings
        self._default_models = _default_model_names(settings)  # for metric labels
        self._clock = clock
        self._tools = tools
        self._fetcher = fetcher
        self._mailer = mailer

    async def aclose(self) -> None:
        await self._providers.aclose()

    async def execute(self, claim: Claim) -> Outcome:
        progress = Progress()
        route: Route | None = None
        limit = self._settings.run_timeout_seconds
        try:
            try:
                async with asyncio.timeout(limit):
                    route = resolve(_payload(claim).get("model") or "", self._settings)
                    text, context = await self._attempt(claim, route, progress)
            except TimeoutError:
                failure = AttemptFailed(
                    FailureKind.TIMEOUT,
                    f"the attempt took longer than {limit:g} s (BACKBEAT_RUN_TIMEOUT_SECONDS)",
                    name="AttemptTimeout",
                )
                return Outcome(None, failure, _cost(route, progress) or 0.0)
            except AttemptFailed as failed:
                failed.message = REDACT(failed.message)  # stored and shown: never a secret
                return Outcome(None, failed, _cost(route, progress) or 0.0)
            except Exception as exc:  # a bug in Backbeat: record it with its trace, no retry
                message = REDACT(repr(exc))
                bug = AttemptFailed(FailureKind.INTERNAL, message, name=type(exc).__name__)
                trace = REDACT(traceback.format_exc())
                return Outcome(None, bug, _cost(route, progress) or 0.0, trace)
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
        model = metrics.model_label(route.model_name, cents is not None, self._default_models)
        metrics.current().model_usage(
            route.provider_name, model, usage.input_tokens, usage.output_tokens, cents
        )

    async def _attempt(
        self, claim: Claim, route: Route, progress: Progress
    ) -> tuple[str, ToolContext]:
        run = claim.run
        payload = _payload(claim)
        provider = self._providers.get(route)
        facts = await _database(self._queue.context, run, PREVIOUS_OUTPUTS)

        async def previous_outputs(limit: int) -> list[dict[str, Any]]:
            return await _database(self._queue.previous_outputs, run, limit)

        context = ToolContext(
            run_id=run.id,
            task_id=run.task_id,
            account_id=run.account_id,
            artist=facts.artist,
            owner_email=facts.owner_email,
            team_emails=facts.team_emails,
            previous_outputs=previous_outputs,
            fetcher=self._fetcher,
            mailer=self._mailer,
            ledger=LedgerForRun(self._queue, run.id),
        )
        system = system_prompt(
            title=str(payload.get("title") or ""),
            artist=facts.artist,
            fire_time=payload.get("fire_time"),
            timezone=payload.get("timezone"),
            now=self._clock.now(),
            previous=facts.previous_outputs,
        )
        text = await run_agent(
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
        return text, context


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
    route: Route,
    progress: Progress,
    text: str,
    context: ToolContext,
    cost: float | None,
) -> dict[str, Any]:
    return {
        "text": text,
        "model": _payload(claim).get("model"),
        "provider": route.provider_name,
        "provider_model": route.model_name,
        "turns": progress.turns,
        "tool_calls": progress.tool_calls,
        "emails_sent": context.emails_sent,
        "emails_refused": context.emails_refused,
        "pages_fetched": context.pages_fetched,
        "usage": {
            "input_tokens": progress.usage.input_tokens,
            "output_tokens": progress.usage.output_tokens,
            "requests": progress.usage.requests,
        },
        "price_known": cost is not None,
    }
