"""The in-package fakes behave like the real capabilities they stand in for."""

from __future__ import annotations

import pytest

from backbeat.agents.tools.base import (
    EmailLedger,
    FetchedPage,
    Mailer,
    OutgoingEmail,
    ToolError,
    WebFetcher,
)
from backbeat.testing.fake_tools import InMemoryEmailLedger, RecordingMailer, StaticFetcher
from tests.tools.helpers import raises_tool_error, run


def test_the_fakes_satisfy_the_protocols() -> None:
    ledger: EmailLedger = InMemoryEmailLedger()
    mailer: Mailer = RecordingMailer()
    fetcher: WebFetcher = StaticFetcher()
    assert ledger
    assert mailer
    assert fetcher


def test_ledger_semantics() -> None:
    ledger = InMemoryEmailLedger()

    async def scenario() -> list[bool]:
        results = [await ledger.claim("a@x.example", "s1")]  # fresh: yes
        results.append(await ledger.claim("a@x.example", "s2"))  # sending: no
        await ledger.release("a@x.example", "boom")
        results.append(await ledger.claim("a@x.example", "s3"))  # failed: yes again
        await ledger.mark_sent("a@x.example")
        results.append(await ledger.claim("a@x.example", "s4"))  # sent: never again
        results.append(await ledger.claim("b@x.example", "s1"))  # someone else: yes
        return results

    assert run(scenario()) == [True, False, True, False, True]
    assert ledger.status("a@x.example") == "sent"
    assert ledger.status("b@x.example") == "sending"
    assert ledger.status("c@x.example") is None
    assert ledger.entries["a@x.example"].subject == "s3"
    assert ledger.sent == ["a@x.example"]
    with pytest.raises(KeyError):
        run(ledger.mark_sent("nobody@x.example"))


def test_recording_mailer() -> None:
    mailer = RecordingMailer(fail_times=1, error="down")
    email = OutgoingEmail(("a@x.example", "b@x.example"), "s", "b")
    with pytest.raises(ConnectionError, match="down"):
        run(mailer.send(email))
    run(mailer.send(email))
    mailer.fail_next(1, "again")
    with pytest.raises(ConnectionError, match="again"):
        run(mailer.send(email))
    assert mailer.sent == [email]
    assert mailer.attempts == 3
    assert mailer.recipients == ["a@x.example", "b@x.example"]


def test_static_fetcher() -> None:
    page = FetchedPage("https://x.example/", 200, "text/plain", "hi", False)
    fetcher = StaticFetcher({"https://x.example/": page, "https://bad.example/": ToolError("nope")})
    fetcher.add_text("https://y.example/", "yo", content_type="text/html")
    assert run(fetcher.fetch("https://x.example/")) is page
    assert run(fetcher.fetch("https://y.example/")).text == "yo"
    assert raises_tool_error(fetcher.fetch("https://bad.example/")) == "nope"
    assert raises_tool_error(fetcher.fetch("https://bad.example/")) == "nope"
    assert raises_tool_error(fetcher.fetch("https://z.example/")) == "HTTP 404"
    assert fetcher.requests == [
        "https://x.example/",
        "https://y.example/",
        "https://bad.example/",
        "https://bad.example/",
        "https://z.example/",
    ]
