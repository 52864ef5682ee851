"""The in-package fakes behave like the real capabilities they stand in for."""

from __future__ import annotations

import pytest

from backbeat.agents.tools.base import (
    DeliveryReport,
    FetchedPage,
    Mailer,
    OutgoingEmail,
    RunOutbox,
    ToolError,
    WebFetcher,
)
from backbeat.domain.deliveries import DeliveryStatus, SendOutcome, SendResult
from backbeat.testing.fake_tools import InMemoryRunOutbox, RecordingMailer, StaticFetcher
from tests.tools.helpers import raises_tool_error, run


def test_the_fakes_satisfy_the_protocols() -> None:
    outbox: RunOutbox = InMemoryRunOutbox()
    mailer: Mailer = RecordingMailer()
    fetcher: WebFetcher = StaticFetcher()
    assert outbox
    assert mailer
    assert fetcher


def test_outbox_semantics() -> None:
    mailer = RecordingMailer()
    outbox = InMemoryRunOutbox(mailer)

    async def email(recipient: str, subject: str) -> DeliveryReport:
        return await outbox.email(recipient, recipient.upper(), subject, "b")

    async def scenario() -> list[DeliveryReport]:
        mailer.fail_next(1, "down")
        reports = [await email("a@x.example", "s1")]  # temporary: kept pending
        reports.append(await email("a@x.example", "s2"))  # pending: tried again, sent
        reports.append(await email("a@x.example", "s3"))  # sent: never again
        mailer.fail_next(1, "no reply", SendOutcome.UNCONFIRMED)
        reports.append(await email("b@x.example", "s1"))  # may have arrived
        reports.append(await email("b@x.example", "s2"))  # so: never again
        return reports

    assert run(scenario()) == [
        DeliveryReport("A@X.EXAMPLE", DeliveryStatus.PENDING, "down"),
        DeliveryReport("A@X.EXAMPLE", DeliveryStatus.SENT),
        DeliveryReport("A@X.EXAMPLE", DeliveryStatus.SENT, earlier=True),
        DeliveryReport("B@X.EXAMPLE", DeliveryStatus.UNCONFIRMED, "no reply"),
        DeliveryReport("B@X.EXAMPLE", DeliveryStatus.UNCONFIRMED, "no reply", earlier=True),
    ]
    assert mailer.attempts == 3
    assert [email.recipients for email in mailer.sent] == [("A@X.EXAMPLE",), ("B@X.EXAMPLE",)]
    assert outbox.status("a@x.example") is DeliveryStatus.SENT
    assert outbox.status("b@x.example") is DeliveryStatus.UNCONFIRMED
    assert outbox.status("c@x.example") is None
    assert outbox.sent == ["a@x.example"]  # unconfirmed is not confirmed
    assert outbox.can_email
    assert not InMemoryRunOutbox().can_email


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        (SendOutcome.PERMANENT, DeliveryStatus.FAILED),
        (SendOutcome.REFUSED, DeliveryStatus.REFUSED),
    ],
    ids=str,
)
def test_outbox_final_failures_are_never_retried(
    outcome: SendOutcome, status: DeliveryStatus
) -> None:
    mailer = RecordingMailer()
    mailer.fail_next(1, "550 no", outcome)
    outbox = InMemoryRunOutbox(mailer)
    first = run(outbox.email("a@x.example", "a@x.example", "s", "b"))
    again = run(outbox.email("a@x.example", "a@x.example", "s", "b"))
    assert first == DeliveryReport("a@x.example", status, "550 no")
    assert again == DeliveryReport("a@x.example", status, "550 no", earlier=True)
    assert mailer.attempts == 1
    assert mailer.sent == []


def test_recording_mailer() -> None:
    mailer = RecordingMailer(fail_times=1, error="down")
    email = OutgoingEmail(("a@x.example", "b@x.example"), "s", "b")
    assert run(mailer.send(email)) == SendResult(SendOutcome.TEMPORARY, "down")
    assert run(mailer.send(email)) == SendResult(SendOutcome.ACCEPTED, "250 OK")
    mailer.fail_next(1, "again")
    assert run(mailer.send(email)) == SendResult(SendOutcome.TEMPORARY, "again")
    assert mailer.sent == [email]
    mailer.fail_next(2, outcome=SendOutcome.PERMANENT)  # the last error stays
    assert run(mailer.send(email)) == SendResult(SendOutcome.PERMANENT, "again")
    assert run(mailer.send(email)) == SendResult(SendOutcome.PERMANENT, "again")
    assert mailer.sent == [email]
    mailer.fail_next(1, "no reply", SendOutcome.UNCONFIRMED)  # it may have gone: kept
    assert run(mailer.send(email)) == SendResult(SendOutcome.UNCONFIRMED, "no reply")
    assert run(mailer.send(email)).outcome is SendOutcome.ACCEPTED
    assert mailer.sent == [email, email, email]
    assert mailer.attempts == 7
    assert mailer.recipients == ["a@x.example", "b@x.example"] * 3


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
