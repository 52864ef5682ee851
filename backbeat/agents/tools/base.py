"""What a tool is, and what it may use. Tools get a ToolContext; they never see settings,
credentials or the database directly, only the narrow capabilities the context hands them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from backbeat.agents.base import ToolSpec
from backbeat.domain.deliveries import DeliveryStatus, SendResult
from backbeat.domain.metrics import NO_METRICS, Recorder


class ToolError(Exception):
    """The tool could not do what was asked; the message goes back to the model as an error."""


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    recipients: tuple[str, ...]
    subject: str
    body: str  # plain text (Markdown allowed)
    html: str | None = None  # an HTML alternative (a report), already safe


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> SendResult:
        """Try once to send it; how far it got, never an exception (see SmtpMailer)."""
        ...


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """Where one of a run's deliveries stands after the tool asked for it."""

    address: str
    status: DeliveryStatus
    detail: str | None = None
    earlier: bool = False  # the run had already delivered (or handed over) this one


class RunOutbox(Protocol):
    """One attempt's door to the outbox: each (run, channel, recipient) is delivered at most
    once, whatever the attempt, and only while this attempt holds the run."""

    @property
    def can_email(self) -> bool:
        """Whether email is configured at all."""
        ...

    async def email(self, recipient: str, address: str, subject: str, body: str) -> DeliveryReport:
        """Record the email to `recipient` (the normalised key) in the outbox and try to send
        it now, unless the run already has one for that recipient."""
        ...


@dataclass(frozen=True, slots=True)
class FetchedPage:
    url: str  # after redirects
    status: int
    content_type: str
    text: str
    truncated: bool


class WebFetcher(Protocol):
    async def fetch(self, url: str) -> FetchedPage:
        """GET the page (size and time capped, private addresses refused); ToolError if not."""
        ...


@dataclass
class ToolContext:
    """One run's view of the world, for its tools."""

    run_id: str
    task_id: UUID | None
    account_id: UUID
    artist: dict[str, Any]  # {"id", "name", "profile"}
    owner_email: str | None
    team_emails: frozenset[str]  # the owner and the owning account's organization members
    previous_outputs: Callable[[int], Awaitable[list[dict[str, Any]]]]
    fetcher: WebFetcher
    outbox: RunOutbox
    previous: list[dict[str, Any]] = field(default_factory=list)  # earlier outputs, read once
    emails_refused: list[dict[str, Any]] = field(default_factory=list)
    pages_fetched: list[dict[str, Any]] = field(default_factory=list)
    metrics: Recorder = NO_METRICS


class Tool(Protocol):
    spec: ToolSpec

    async def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        """The result as text for the model; raise ToolError for a failure it should see."""
        ...
