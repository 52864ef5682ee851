"""In-memory stand-ins for the tools' capabilities (agents.tools.base), for tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backbeat.agents.tools.base import FetchedPage, OutgoingEmail, ToolError

if TYPE_CHECKING:
    from backbeat.agents.tools.base import EmailLedger, Mailer, WebFetcher


@dataclass
class LedgerEntry:
    recipient: str
    subject: str
    status: str  # "sending", "sent" or "failed"
    error: str | None = None


class InMemoryEmailLedger:
    """An EmailLedger for one run, with the store's semantics: a recipient can be claimed when
    never claimed before or when its last send failed (was released); "sending" (a crash
    mid-send) and "sent" block every later claim. Recipients are compared exactly: the
    send_email tool passes them normalised (lower case)."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.claims: list[tuple[str, str, bool]] = []  # (recipient, subject, granted)

    async def claim(self, recipient: str, subject: str) -> bool:
        entry = self.entries.get(recipient)
        granted = entry is None or entry.status == "failed"
        if granted:
            self.entries[recipient] = LedgerEntry(recipient, subject, "sending")
        self.claims.append((recipient, subject, granted))
        return granted

    async def mark_sent(self, recipient: str) -> None:
        entry = self.entries.get(recipient)
        if entry is None:
            raise KeyError(f"{recipient} was never claimed")
        entry.status, entry.error = "sent", None

    async def release(self, recipient: str, error: str) -> None:
        entry = self.entries.get(recipient)
        if entry is None:
            raise KeyError(f"{recipient} was never claimed")
        entry.status, entry.error = "failed", error

    def status(self, recipient: str) -> str | None:
        entry = self.entries.get(recipient)
        return None if entry is None else entry.status

    @property
    def sent(self) -> list[str]:
        return [entry.recipient for entry in self.entries.values() if entry.status == "sent"]


class RecordingMailer:
    """A Mailer that keeps what it is given. `fail_next(n)` makes the next n sends raise."""

    def __init__(self, fail_times: int = 0, error: str = "SMTP server unavailable") -> None:
        self.sent: list[OutgoingEmail] = []
        self.attempts = 0
        self._failures_left = fail_times
        self._error = error

    def fail_next(self, times: int = 1, error: str | None = None) -> None:
        self._failures_left = times
        if error is not None:
            self._error = error

    async def send(self, email: OutgoingEmail) -> None:
        self.attempts += 1
        if self._failures_left > 0:
            self._failures_left -= 1
            raise ConnectionError(self._error)
        self.sent.append(email)

    @property
    def recipients(self) -> list[str]:
        """Everyone emailed, once per email, in order."""
        return [address for email in self.sent for address in email.recipients]


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
    _ledger: EmailLedger = InMemoryEmailLedger()
    _mailer: Mailer = RecordingMailer()
    _fetcher: WebFetcher = StaticFetcher()
