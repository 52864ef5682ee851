"""In-memory stand-ins for the tools' capabilities (agents.tools.base), for tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backbeat.agents.tools.base import DeliveryReport, FetchedPage, OutgoingEmail, ToolError
from backbeat.domain.deliveries import DeliveryStatus, SendOutcome, SendResult

if TYPE_CHECKING:
    from backbeat.agents.tools.base import Mailer, RunOutbox, WebFetcher


class RecordingMailer:
    """A Mailer that keeps what it accepts. `fail_next(n)` makes the next n sends end with
    `outcome` (TEMPORARY by default: nothing sent); an UNCONFIRMED send is kept as sent."""

    def __init__(self, fail_times: int = 0, error: str = "SMTP server unavailable") -> None:
        self.sent: list[OutgoingEmail] = []
        self.attempts = 0
        self._failures_left = fail_times
        self._error = error
        self._outcome = SendOutcome.TEMPORARY

    def fail_next(
        self,
        times: int = 1,
        error: str | None = None,
        outcome: SendOutcome = SendOutcome.TEMPORARY,
    ) -> None:
        self._failures_left = times
        self._outcome = outcome
        if error is not None:
            self._error = error

    async def send(self, email: OutgoingEmail) -> SendResult:
        self.attempts += 1
        if self._failures_left > 0:
            self._failures_left -= 1
            if self._outcome is SendOutcome.UNCONFIRMED:
                self.sent.append(email)
            return SendResult(self._outcome, self._error)
        self.sent.append(email)
        return SendResult(SendOutcome.ACCEPTED, "250 OK")

    @property
    def recipients(self) -> list[str]:
        """Everyone emailed, once per email, in order."""
        return [address for email in self.sent for address in email.recipients]


@dataclass
class OutboxEntry:
    recipient: str
    address: str
    subject: str
    status: DeliveryStatus
    error: str | None = None
    body: str | None = None


class InMemoryRunOutbox:
    """A RunOutbox for one run with the outbox's semantics, without a database: a recipient
    gets at most one email; a send that failed for a passing reason stays pending (a later
    call in the same run tries it again); anything that may have arrived is never resent."""

    def __init__(self, mailer: Mailer | None = None) -> None:
        self.mailer = mailer
        self.entries: dict[str, OutboxEntry] = {}

    @property
    def can_email(self) -> bool:
        return self.mailer is not None

    async def email(self, recipient: str, address: str, subject: str, body: str) -> DeliveryReport:
        entry = self.entries.get(recipient)
        if entry is not None and entry.status is not DeliveryStatus.PENDING:
            return DeliveryReport(entry.address, entry.status, entry.error, earlier=True)
        if entry is None:
            entry = OutboxEntry(recipient, address, subject, DeliveryStatus.PENDING, body=body)
            self.entries[recipient] = entry
        assert self.mailer is not None, "check can_email first"
        # A retry sends what was first asked for, as the outbox keeps a delivery's content.
        email = OutgoingEmail((entry.address,), entry.subject, entry.body or body)
        result = await self.mailer.send(email)
        entry.status = {
            SendOutcome.ACCEPTED: DeliveryStatus.SENT,
            SendOutcome.UNCONFIRMED: DeliveryStatus.UNCONFIRMED,
            SendOutcome.TEMPORARY: DeliveryStatus.PENDING,
            SendOutcome.PERMANENT: DeliveryStatus.FAILED,
            SendOutcome.REFUSED: DeliveryStatus.REFUSED,
        }[result.outcome]
        entry.error = None if result.outcome is SendOutcome.ACCEPTED else result.detail
        return DeliveryReport(entry.address, entry.status, entry.error)

    def status(self, recipient: str) -> DeliveryStatus | None:
        entry = self.entries.get(recipient)
        return None if entry is None else entry.status

    @property
    def sent(self) -> list[str]:
        return [e.recipient for e in self.entries.values() if e.status is DeliveryStatus.SENT]


class StaticFetcher:
    """A WebFetcher serving fixed pages: each URL maps to a FetchedPage or to the ToolError to
    raise; any other URL is an "HTTP 404"."""

    def __init__(self, pages: Mapping[str, FetchedPage | ToolError] | None = None) -> None:
        self.pages: dict[str, FetchedPage | ToolError] = dict(pages or {})
        self.requests: list[str] = []

    def add(self, url: str, page: FetchedPage | ToolError) -> None:
        self.pages[url] = page

    def add_text(
        self,
        url: str,
        text: str,
        *,
        status: int = 200,
        content_type: str = "text/plain",
        truncated: bool = False,
    ) -> None:
        self.pages[url] = FetchedPage(url, status, content_type, text, truncated)

    async def fetch(self, url: str) -> FetchedPage:
        self.requests.append(url)
        page = self.pages.get(url)
        if page is None:
            raise ToolError("HTTP 404")
        if isinstance(page, ToolError):
            raise ToolError(str(page))  # a fresh one each time: no traceback pile-up
        return page


if TYPE_CHECKING:  # the fakes implement the protocols (checked by mypy)
    _outbox: RunOutbox = InMemoryRunOutbox()
    _mailer: Mailer = RecordingMailer()
    _fetcher: WebFetcher = StaticFetcher()
