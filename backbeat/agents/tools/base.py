"""What a tool is, and what it may use. Tools get a ToolContext; they never see settings,
credentials or the database directly, only the narrow capabilities the context hands them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from uuid import UUID

from backbeat.agents.base import ToolSpec


class ToolError(Exception):
    """The tool could not do what was asked; the message goes back to the model as an error."""


@dataclass(frozen=True, slots=True)
class OutgoingEmail:
    recipients: tuple[str, ...]
    subject: str
    body: str  # plain text (Markdown allowed)


class Mailer(Protocol):
    async def send(self, email: OutgoingEmail) -> None:
        """Send it or raise (an SMTP or network error)."""
        ...


class EmailLedger(Protocol):
    """Remembers, per run, whom it emailed, so a retried run never emails anyone twice.

    `claim` answers True only if no attempt of this run has sent to (or is sending to) this
    recipient; a failed send is released again with `release`, a successful one kept with
    `mark_sent`. A claim left behind by a crash counts as sent: at most once, never twice.
    """

    async def claim(self, recipient: str, subject: str) -> bool: ...
    async def mark_sent(self, recipient: str) -> None: ...
    async def release(self, recipient: str, error: str) -> None: ...


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
    mailer: Mailer | None  # None when SMTP is not configured
    ledger: EmailLedger
    emails_sent: list[dict[str, Any]] = field(default_factory=list)
    emails_refused: list[dict[str, Any]] = field(default_factory=list)
    pages_fetched: list[dict[str, Any]] = field(default_factory=list)


class Tool(Protocol):
    spec: ToolSpec

    async def __call__(self, context: ToolContext, arguments: dict[str, Any]) -> str:
        """The result as text for the model; raise ToolError for a failure it should see."""
        ...
