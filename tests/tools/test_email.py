"""SmtpMailer and the send_email tool against a real SMTP server (aiosmtpd on 127.0.0.1).

SmtpMailer never raises for a failed send: it answers a SendResult saying how far the send
got. The stage tests below use servers that misbehave at one step each and check both the
outcome and what the server really received.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import ValidationError

from backbeat.agents.tools import email as email_module
from backbeat.agents.tools.base import OutgoingEmail
from backbeat.agents.tools.email import SmtpMailer, mailer_from_settings
from backbeat.agents.tools.registry import SEND_EMAIL
from backbeat.config import Settings
from backbeat.domain.deliveries import DeliveryStatus, SendOutcome, SendResult
from backbeat.testing.fake_tools import InMemoryRunOutbox
from tests.processes import free_port
from tests.tools import tls_material
from tests.tools.helpers import (
    LocalSmtpServer,
    SmtpHandler,
    authenticator,
    make_context,
    run,
)

USER = "backbeat-relay"
PASSWORD = "Pa55-w0rd-never-shown"
SENDER = "backbeat@band.example"
DATA_TIMEOUT = 0.5  # seconds: the mailer's wait for the reply to the end of a message
WAIT = 5.0  # seconds: how long a test waits for the server thread to reach a point

# The test relay wants AUTH over plain TCP, which aiosmtpd (rightly) warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def body_of(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # as it came off the wire


def one_email(to: str = "a@band.example", subject: str = "s") -> OutgoingEmail:
    return OutgoingEmail((to,), subject, "b")


@pytest.fixture
def smtp() -> Iterator[LocalSmtpServer]:
    """A relay that wants AUTH (over plain TCP, as a local relay might)."""
    server = LocalSmtpServer(
        authenticator=authenticator(USER, PASSWORD), auth_require_tls=False, auth_required=True
    )
    with server:
        yield server


def mailer_for(server: LocalSmtpServer, password: str = PASSWORD) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", server.port, USER, password, SENDER, starttls=False)


# The mailer


def test_sends_a_well_formed_plain_text_email(smtp: LocalSmtpServer) -> None:
    result = run(
        mailer_for(smtp).send(OutgoingEmail(("jane@band.example",), "Weekly pulse", "Up 12%.\n"))
    )
    assert result == SendResult(SendOutcome.ACCEPTED, "250 Message accepted")
    (message,) = smtp.handler.messages
    assert smtp.handler.envelopes == [(SENDER, ["jane@band.example"])]
    assert message["From"] == SENDER
    assert message["To"] == "jane@band.example"
    assert message["Subject"] == "Weekly pulse"
    assert message["Date"]
    assert message["Message-ID"].endswith("@band.example>")
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "text/plain"
    assert body_of(message) == "Up 12%.\n"


def test_non_ascii_subject_and_body(smtp: LocalSmtpServer) -> None:
    email = OutgoingEmail(("jane@band.example",), "Beyoncé — résumé", "Ça marche ✓\n")
    assert run(mailer_for(smtp).send(email)).outcome is SendOutcome.ACCEPTED
    (message,) = smtp.handler.messages
    assert message["Subject"] == "Beyoncé — résumé"
    assert body_of(message) == "Ça marche ✓\n"


def test_lines_starting_with_a_dot_survive_the_data_quoting(smtp: LocalSmtpServer) -> None:
    body = ".hidden\n.\nlast line without a newline"
    email = OutgoingEmail(("jane@band.example",), "dots", body)
    assert run(mailer_for(smtp).send(email)).outcome is SendOutcome.ACCEPTED
    (message,) = smtp.handler.messages
    assert body_of(message) == body + "\n"


def test_an_email_without_recipients_is_a_permanent_failure(smtp: LocalSmtpServer) -> None:
    result = run(mailer_for(smtp).send(OutgoingEmail((), "s", "b")))
    assert result == SendResult(SendOutcome.PERMANENT, "an email needs at least one recipient")
    assert smtp.handler.messages == []


def test_a_server_echoing_the_password_is_scrubbed() -> None:
    handler = SmtpHandler(mail_reply=f"550 5.7.1 rejected for {PASSWORD} ({USER})")
    with LocalSmtpServer(
        handler, authenticator=authenticator(USER, PASSWORD), auth_require_tls=False
    ) as server:
        result = run(mailer_for(server).send(one_email()))
    assert result.outcome is SendOutcome.PERMANENT  # a refused sender: trying again won't help
    assert result.detail.startswith(f"the SMTP server 127.0.0.1:{server.port} refused the sender")
    assert "550 5.7.1 rejected for *** (backbeat-relay)" in result.detail
    assert PASSWORD not in result.detail
    assert handler.messages == []


def test_starttls_when_asked(tmp_path: Path) -> None:
    tls = tls_material.server_context(tmp_path)
    with LocalSmtpServer(
        tls_context=tls,
        require_starttls=True,
        authenticator=authenticator(USER, PASSWORD),
        auth_required=True,
    ) as server:
        secure = SmtpMailer(
            "127.0.0.1",
            server.port,
            USER,
            PASSWORD,
            SENDER,
            starttls=True,
            ssl_context=tls_material.client_context(),
        )
        assert run(secure.send(one_email(subject="over TLS"))).outcome is SendOutcome.ACCEPTED
        assert [m["Subject"] for m in server.handler.messages] == ["over TLS"]

        plain = SmtpMailer("127.0.0.1", server.port, USER, PASSWORD, SENDER, starttls=False)
        result = run(plain.send(one_email(subject="in clear")))  # the server insists on TLS
        assert result.outcome is not SendOutcome.ACCEPTED
        assert result.outcome is not SendOutcome.UNCONFIRMED  # nothing was handed over
        assert PASSWORD not in result.detail
        assert len(server.handler.messages) == 1


@dataclass
class TlsNoting(SmtpHandler):
    """Also notes, for each message kept, whether its connection was TLS."""

    tls: list[bool] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert server.transport is not None
        self.tls.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


def test_implicit_tls_on_the_smtps_port(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    handler = TlsNoting()
    port = free_port()
    server = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        ssl_context=tls_material.server_context(tmp_path),
    )
    # The mailer speaks TLS from the first byte on port 465; the test server is elsewhere.
    monkeypatch.setattr(email_module, "IMPLICIT_TLS_PORT", port)
    mailer = SmtpMailer(
        "127.0.0.1",
        port,
        None,
        None,
        SENDER,
        starttls=True,  # ignored: the connection is TLS already
        ssl_context=tls_material.client_context(),
    )
    server.start()
    try:
        result = run(mailer.send(one_email(subject="TLS all along")))
    finally:
        server.stop()
    assert result.outcome is SendOutcome.ACCEPTED
    assert [m["Subject"] for m in handler.messages] == ["TLS all along"]
    assert handler.tls == [True]


def test_the_mailer_repr_hides_the_password() -> None:
    mailer = SmtpMailer("smtp.example.com", 587, USER, PASSWORD, SENDER, starttls=True)
    assert PASSWORD not in repr(mailer)
    assert "password=***" in repr(mailer)


def test_mailer_from_settings() -> None:
    assert mailer_from_settings(Settings(smtp_host=None)) is None
    mailer = mailer_from_settings(
        Settings(
            smtp_host="smtp.example.com",
            smtp_port=2525,
            smtp_username=USER,
            smtp_password=PASSWORD,
            smtp_from=SENDER,
            smtp_starttls=False,
            smtp_timeout_seconds=12,
            smtp_data_timeout_seconds=34,
        )
    )
    assert isinstance(mailer, SmtpMailer)
    assert (mailer.host, mailer.port, mailer.username, mailer.sender, mailer.starttls) == (
        "smtp.example.com",
        2525,
        USER,
        SENDER,
        False,
    )
    assert (mailer.timeout_seconds, mailer.data_timeout_seconds) == (12, 34)
    assert mailer.longest_send.total_seconds() == 9 * 12 + 34
    assert PASSWORD not in repr(mailer)


def test_mailer_from_settings_defaults_to_the_rfc_5321_timeouts() -> None:
    mailer = mailer_from_settings(Settings(smtp_host="smtp.example.com"))
    assert mailer is not None
    assert (mailer.timeout_seconds, mailer.data_timeout_seconds) == (300, 600)


@pytest.mark.parametrize("name", ["smtp_timeout_seconds", "smtp_data_timeout_seconds"])
def test_smtp_timeouts_must_be_positive(name: str) -> None:
    zero: dict[str, Any] = {name: 0}
    with pytest.raises(ValidationError, match=name):
        Settings(smtp_host="smtp.example.com", **zero)


# How far a send got: a server misbehaving at each stage


@dataclass
class StageHandler(SmtpHandler):
    """An SmtpHandler that can also refuse RCPT, and after the end of a message keep it and
    then hang up, or answer only `data_delay` seconds later (inf: never), noting whether the
    connection closed before that answer was due."""

    rcpt_reply: str | None = None
    hang_up_after_data: bool = False
    data_delay: float | None = None  # None: answer at once; inf: never
    kept: threading.Event = field(default_factory=threading.Event)  # a message was kept
    answered: threading.Event = field(default_factory=threading.Event)  # late answer given
    cut_off: threading.Event = field(default_factory=threading.Event)  # closed before it
    quits: int = 0  # QUIT commands received (see MisbehavingSmtp)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        status = await super().handle_DATA(server, session, envelope)
        if status.startswith("250"):
            self.kept.set()
        if self.hang_up_after_data:
            assert server.transport is not None
            server.transport.close()  # the "250" below goes nowhere
        elif self.data_delay is not None:
            try:
                await asyncio.sleep(self.data_delay)
            except asyncio.CancelledError:
                self.cut_off.set()  # the connection closed before the answer was due
                raise
            self.answered.set()
        return status


class MisbehavingSmtp(SMTP):
    """aiosmtpd's SMTP answering QUIT with `quit_reply` ("" for no answer at all) before
    hanging up, and counting the QUITs it gets."""

    quit_reply: str | None = None

    async def smtp_QUIT(self, arg: str) -> None:
        handler = self.event_handler
        assert isinstance(handler, StageHandler)
        handler.quits += 1
        if self.quit_reply is None:
            await super().smtp_QUIT(arg)
            return
        if self.quit_reply:
            await self.push(self.quit_reply)
        assert self.transport is not None
        self.transport.close()


class MisbehavingController(Controller):
    def __init__(self, handler: StageHandler, port: int, quit_reply: str | None) -> None:
        super().__init__(handler, hostname="127.0.0.1", port=port)
        self.quit_reply = quit_reply

    def factory(self) -> SMTP:
        smtp = MisbehavingSmtp(self.handler, **self.SMTP_kwargs)
        smtp.quit_reply = self.quit_reply
        return smtp


class MisbehavingSmtpServer:
    """aiosmtpd on 127.0.0.1 with a StageHandler and a MisbehavingSmtp (no AUTH)."""

    def __init__(self, handler: StageHandler, quit_reply: str | None = None) -> None:
        self.handler = handler
        self.port = free_port()
        self.controller = MisbehavingController(handler, self.port, quit_reply)

    def __enter__(self) -> MisbehavingSmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def send_through(server: MisbehavingSmtpServer) -> SendResult:
    mailer = SmtpMailer(
        "127.0.0.1",
        server.port,
        None,
        None,
        SENDER,
        starttls=False,
        timeout_seconds=WAIT,
        data_timeout_seconds=DATA_TIMEOUT,
    )
    return run(mailer.send(one_email()))


def test_stage_connect_refused_is_temporary() -> None:
    port = free_port()  # nothing listens there
    mailer = SmtpMailer("127.0.0.1", port, USER, PASSWORD, SENDER, starttls=False)
    result = run(mailer.send(one_email()))
    assert result.outcome is SendOutcome.TEMPORARY
    assert result.detail.startswith(f"could not reach the SMTP server 127.0.0.1:{port}")


def test_stage_auth_failure_is_permanent(smtp: LocalSmtpServer) -> None:
    wrong = "wrong-" + PASSWORD
    result = run(mailer_for(smtp, password=wrong).send(one_email()))
    assert result.outcome is SendOutcome.PERMANENT
    assert result.detail.startswith(f"SMTP login to 127.0.0.1:{smtp.port} failed: 535")
    assert wrong not in result.detail
    assert smtp.handler.messages == []


@pytest.mark.parametrize(
    ("handler", "outcome", "refused"),
    [
        (StageHandler(mail_reply="451 4.3.2 try later"), SendOutcome.TEMPORARY, "the sender"),
        (StageHandler(mail_reply="550 5.7.1 not you"), SendOutcome.PERMANENT, "the sender"),
        (StageHandler(rcpt_reply="450 4.2.1 mailbox busy"), SendOutcome.TEMPORARY, "a@band"),
        (StageHandler(rcpt_reply="550 5.1.1 no such user"), SendOutcome.REFUSED, "a@band"),
    ],
    ids=["mail-451", "mail-550", "rcpt-450", "rcpt-550"],
)
def test_stage_a_refusal_before_the_message(
    handler: StageHandler, outcome: SendOutcome, refused: str
) -> None:
    with MisbehavingSmtpServer(handler) as server:
        result = send_through(server)
    assert result.outcome is outcome
    assert result.detail.startswith(f"the SMTP server 127.0.0.1:{server.port} refused {refused}")
    reply = handler.mail_reply or handler.rcpt_reply
    assert reply is not None
    assert result.detail.endswith(reply)
    assert handler.messages == []


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("451 4.3.0 queue full, try again later", SendOutcome.TEMPORARY),
        ("554 5.6.0 message content rejected", SendOutcome.PERMANENT),
    ],
    ids=["451", "554"],
)
def test_stage_a_rejection_after_the_message(reply: str, outcome: SendOutcome) -> None:
    handler = StageHandler(fail_next=1, failure=reply)
    with MisbehavingSmtpServer(handler) as server:
        result = send_through(server)
    # The server said it did not take it: not unconfirmed, whatever the code.
    assert result == SendResult(
        outcome, f"the SMTP server 127.0.0.1:{server.port} rejected the message: {reply}"
    )
    assert handler.messages == []
    assert handler.fail_next == 0  # the message did reach the DATA reply


def test_stage_no_reply_after_the_message_is_unconfirmed() -> None:
    handler = StageHandler(data_delay=float("inf"))  # keeps it, then never answers
    with MisbehavingSmtpServer(handler) as server:
        result = send_through(server)
        assert handler.kept.wait(WAIT)
        assert handler.cut_off.wait(WAIT)  # the mailer gave up and hung up
    assert result.outcome is SendOutcome.UNCONFIRMED
    assert "no confirmation after the message was sent" in result.detail
    assert "it is not sent again" in result.detail
    assert len(handler.messages) == 1


def test_stage_a_dropped_connection_after_the_message_is_unconfirmed() -> None:
    handler = StageHandler(hang_up_after_data=True)
    with MisbehavingSmtpServer(handler) as server:
        result = send_through(server)
    assert result.outcome is SendOutcome.UNCONFIRMED
    assert "no confirmation after the message was sent" in result.detail
    assert len(handler.messages) == 1


def test_stage_a_reply_later_than_the_timeout_is_unconfirmed() -> None:
    handler = StageHandler(data_delay=3 * DATA_TIMEOUT)  # a 250 would come, but too late
    with MisbehavingSmtpServer(handler) as server:
        result = send_through(server)
        # The connection closed while the server was still on its way to the 250.
        assert handler.cut_off.wait(WAIT)
        assert not handler.answered.is_set()
    assert result.outcome is SendOutcome.UNCONFIRMED
    assert "timed out" in result.detail
    assert len(handler.messages) == 1


@pytest.mark.parametrize(
    "quit_reply", ["421 4.3.2 shutting down", ""], ids=["quit-421", "quit-no-answer"]
)
def test_stage_a_failed_quit_after_the_250_is_still_accepted(quit_reply: str) -> None:
    handler = StageHandler()
    with MisbehavingSmtpServer(handler, quit_reply=quit_reply) as server:
        result = send_through(server)
    assert result == SendResult(SendOutcome.ACCEPTED, "250 Message accepted")
    assert len(handler.messages) == 1
    assert handler.quits == 1  # the goodbye did go wrong


# The send_email tool, end to end


def test_send_email_reaches_team_members_and_refuses_others(smtp: LocalSmtpServer) -> None:
    outbox = InMemoryRunOutbox(mailer_for(smtp))
    context = make_context(outbox=outbox)
    result = run(
        SEND_EMAIL(
            context,
            {
                "to": ["manager@band.example", "someone@elsewhere.example"],
                "subject": "Pulse check",
                "body": "Streams up 12% week over week.",
            },
        )
    )
    assert smtp.handler.envelopes == [(SENDER, ["Manager@Band.example"])]
    assert result.startswith("Sent to Manager@Band.example (subject: 'Pulse check').\n")
    assert "someone@elsewhere.example" in result
    assert outbox.status("manager@band.example") is DeliveryStatus.SENT
    assert list(outbox.entries) == ["manager@band.example"]
    assert context.emails_refused == [
        {
            "to": "someone@elsewhere.example",
            "subject": "Pulse check",
            "reason": "not the task owner or a member of the owning account's organization",
        }
    ]
    assert PASSWORD not in result


def test_a_retried_attempt_does_not_email_anyone_twice(smtp: LocalSmtpServer) -> None:
    outbox = InMemoryRunOutbox(mailer_for(smtp))  # one run, shared by its attempts
    arguments = {"subject": "Weekly pulse", "body": "All good."}

    first = make_context(outbox=outbox)
    assert run(SEND_EMAIL(first, dict(arguments))).startswith("Sent to owner@band.example")
    # The attempt then fails for some other reason; the retry runs the same tool calls.
    retry = make_context(outbox=outbox)
    result = run(SEND_EMAIL(retry, dict(arguments)))

    assert len(smtp.handler.messages) == 1
    assert smtp.handler.envelopes == [(SENDER, ["owner@band.example"])]
    assert result.startswith("Not sent again to owner@band.example")
    assert outbox.status("owner@band.example") is DeliveryStatus.SENT


def test_a_temporary_failure_stays_pending_and_a_later_call_sends(smtp: LocalSmtpServer) -> None:
    outbox = InMemoryRunOutbox(mailer_for(smtp))
    smtp.handler.fail_next = 1  # 451 after the message: the server did not take it
    arguments = {"to": ["tour@band.example"], "subject": "Tour dates", "body": "See below."}

    context = make_context(outbox=outbox)
    first = run(SEND_EMAIL(context, dict(arguments)))  # not an error: Backbeat keeps it
    assert first.startswith("Could not send to tour@band.example yet (the SMTP server")
    assert "451 4.3.0" in first
    assert "Backbeat keeps the email and delivers it on its own" in first
    assert "do not send it again" in first
    assert PASSWORD not in first
    assert outbox.status("tour@band.example") is DeliveryStatus.PENDING
    assert smtp.handler.messages == []

    second = run(SEND_EMAIL(context, dict(arguments)))  # the same run asks again: it goes
    assert second == "Sent to tour@band.example (subject: 'Tour dates')."
    assert outbox.status("tour@band.example") is DeliveryStatus.SENT
    assert len(smtp.handler.messages) == 1


def test_an_unconfirmed_send_is_never_sent_again() -> None:
    handler = StageHandler(hang_up_after_data=True)
    with MisbehavingSmtpServer(handler) as server:
        mailer = SmtpMailer(
            "127.0.0.1", server.port, None, None, SENDER, False, data_timeout_seconds=DATA_TIMEOUT
        )
        outbox = InMemoryRunOutbox(mailer)
        arguments = {"subject": "Weekly pulse", "body": "All good."}
        first = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
        handler.hang_up_after_data = False  # the server would confirm now
        again = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
    assert first.startswith("Handed to the mail server for owner@band.example")
    assert "it will not be sent again" in first
    assert again.startswith("Not sent again to owner@band.example")
    assert "status unconfirmed" in again
    assert outbox.status("owner@band.example") is DeliveryStatus.UNCONFIRMED
    assert len(handler.messages) == 1


def test_a_refused_recipient_is_reported_and_not_retried() -> None:
    handler = StageHandler(rcpt_reply="550 5.1.1 no such user")
    with MisbehavingSmtpServer(handler) as server:
        outbox = InMemoryRunOutbox(SmtpMailer("127.0.0.1", server.port, None, None, SENDER, False))
        arguments = {"to": ["tour@band.example"], "subject": "s", "body": "b"}
        first = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
        handler.rcpt_reply = None
        again = run(SEND_EMAIL(make_context(outbox=outbox), dict(arguments)))
    assert first.startswith("Not delivered to tour@band.example: refused (the SMTP server")
    assert "550 5.1.1 no such user" in first
    assert again.startswith("Not sent again to tour@band.example")
    assert outbox.status("tour@band.example") is DeliveryStatus.REFUSED
    assert handler.messages == []


def test_an_smtp_login_failure_reaches_the_model_without_the_password(
    smtp: LocalSmtpServer,
) -> None:
    outbox = InMemoryRunOutbox(mailer_for(smtp, password=PASSWORD + "x"))
    context = make_context(outbox=outbox)
    result = run(SEND_EMAIL(context, {"subject": "s", "body": "b"}))
    assert result.startswith("Not delivered to owner@band.example: failed (SMTP login to 127.0.0.1")
    assert "535" in result
    assert PASSWORD not in result
    assert outbox.status("owner@band.example") is DeliveryStatus.FAILED
    entry = outbox.entries["owner@band.example"]
    assert entry.error is not None
    assert PASSWORD not in entry.error
    assert smtp.handler.messages == []
