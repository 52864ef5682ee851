"""SmtpMailer and the send_email tool against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from backbeat.agents.tools.base import OutgoingEmail
from backbeat.agents.tools.email import MailError, SmtpMailer, mailer_from_settings
from backbeat.agents.tools.registry import SEND_EMAIL
from backbeat.config import Settings
from backbeat.testing.fake_tools import InMemoryEmailLedger
from tests.processes import free_port
from tests.tools import tls_material
from tests.tools.helpers import (
    LocalSmtpServer,
    SmtpHandler,
    authenticator,
    make_context,
    raises_retryable_failure,
    raises_tool_error,
    run,
)

USER = "backbeat-relay"
PASSWORD = "Pa55-w0rd-never-shown"
SENDER = "backbeat@band.example"

# The test relay wants AUTH over plain TCP, which aiosmtpd (rightly) warns about.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def body_of(message: EmailMessage) -> str:
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # as it came off the wire


@pytest.fixture
def smtp() -> Iterator[LocalSmtpServer]:
    """A relay that wants AUTH (over plain TCP, as a local relay might)."""
    server = LocalSmtpServer(
        authenticator=authenticator(USER, PASSWORD), auth_require_tls=False, auth_required=True
    )
    with server:
        yield server


def mailer_for(server: LocalSmtpServer, password: str = PASSWORD, **options: object) -> SmtpMailer:
    return SmtpMailer(
        "127.0.0.1",
        server.port,
        USER,
        password,
        SENDER,
        starttls=False,
        **options,  # type: ignore[arg-type]
    )


def _assert_secret_free(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(exc))
    assert PASSWORD not in rendered
    assert PASSWORD not in repr(exc)
    assert exc.__cause__ is None
    assert exc.__context__ is None or PASSWORD not in str(exc.__context__)


# The mailer


def test_sends_a_well_formed_plain_text_email(smtp: LocalSmtpServer) -> None:
    run(mailer_for(smtp).send(OutgoingEmail(("jane@band.example",), "Weekly pulse", "Up 12%.\n")))
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
    run(mailer_for(smtp).send(email))
    (message,) = smtp.handler.messages
    assert message["Subject"] == "Beyoncé — résumé"
    assert body_of(message) == "Ça marche ✓\n"


def test_a_wrong_password_fails_cleanly(smtp: LocalSmtpServer) -> None:
    wrong = "wrong-" + PASSWORD
    with pytest.raises(MailError) as caught:
        run(mailer_for(smtp, password=wrong).send(OutgoingEmail(("a@band.example",), "s", "b")))
    assert "SMTP login to 127.0.0.1" in str(caught.value)
    assert "535" in str(caught.value)
    assert wrong not in "".join(traceback.format_exception(caught.value))
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    assert smtp.handler.messages == []


def test_a_server_echoing_the_password_is_scrubbed() -> None:
    handler = SmtpHandler(mail_reply=f"550 5.7.1 rejected for {PASSWORD} ({USER})")
    with (
        LocalSmtpServer(
            handler, authenticator=authenticator(USER, PASSWORD), auth_require_tls=False
        ) as server,
        pytest.raises(MailError) as caught,
    ):
        run(mailer_for(server).send(OutgoingEmail(("a@band.example",), "s", "b")))
    assert "550" in str(caught.value)
    assert "***" in str(caught.value)
    _assert_secret_free(caught.value)


def test_an_unreachable_server_fails_cleanly() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), USER, PASSWORD, SENDER, starttls=False)
    with pytest.raises(MailError) as caught:
        run(mailer.send(OutgoingEmail(("a@band.example",), "s", "b")))
    assert str(caught.value).startswith(f"could not reach the SMTP server 127.0.0.1:{mailer.port}")
    _assert_secret_free(caught.value)


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
        run(secure.send(OutgoingEmail(("a@band.example",), "over TLS", "b")))
        assert [m["Subject"] for m in server.handler.messages] == ["over TLS"]

        plain = SmtpMailer("127.0.0.1", server.port, USER, PASSWORD, SENDER, starttls=False)
        with pytest.raises(MailError) as caught:  # the server insists on STARTTLS
            run(plain.send(OutgoingEmail(("a@band.example",), "in clear", "b")))
        _assert_secret_free(caught.value)
        assert len(server.handler.messages) == 1


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
    assert PASSWORD not in repr(mailer)


# The send_email tool, end to end


def test_send_email_reaches_team_members_and_refuses_others(smtp: LocalSmtpServer) -> None:
    context = make_context(mailer=mailer_for(smtp))
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
    assert "Sent to Manager@Band.example" in result
    assert "someone@elsewhere.example" in result
    assert context.emails_sent == [{"to": "Manager@Band.example", "subject": "Pulse check"}]
    assert context.emails_refused == [
        {
            "to": "someone@elsewhere.example",
            "subject": "Pulse check",
            "reason": "not the task owner or a member of the owning account's organization",
        }
    ]
    assert PASSWORD not in result


def test_a_retried_attempt_does_not_email_anyone_twice(smtp: LocalSmtpServer) -> None:
    ledger = InMemoryEmailLedger()  # one run, shared by its attempts
    arguments = {"subject": "Weekly pulse", "body": "All good."}

    first = make_context(mailer=mailer_for(smtp), ledger=ledger)
    run(SEND_EMAIL(first, dict(arguments)))
    # The attempt then fails for some other reason; the retry runs the same tool calls.
    retry = make_context(mailer=mailer_for(smtp), ledger=ledger)
    result = run(SEND_EMAIL(retry, dict(arguments)))

    assert len(smtp.handler.messages) == 1
    assert smtp.handler.envelopes == [(SENDER, ["owner@band.example"])]
    assert "Not sent again to owner@band.example" in result
    assert retry.emails_sent == []


def test_a_failed_send_is_released_so_a_later_attempt_sends(smtp: LocalSmtpServer) -> None:
    ledger = InMemoryEmailLedger()
    smtp.handler.fail_next = 1
    arguments = {"to": ["tour@band.example"], "subject": "Tour dates", "body": "See below."}

    first = make_context(mailer=mailer_for(smtp), ledger=ledger)
    # 451 is temporary: the attempt fails and will be retried, with the claim released.
    failure = raises_retryable_failure(SEND_EMAIL(first, dict(arguments)))
    message = failure.message
    assert failure.name == "EmailDeliveryFailed"
    assert message.startswith("the email to tour@band.example could not be sent: SMTP error")
    assert "451" in message
    assert PASSWORD not in message
    assert ledger.status("tour@band.example") == "failed"
    assert first.emails_sent == []

    retry = make_context(mailer=mailer_for(smtp), ledger=ledger)
    result = run(SEND_EMAIL(retry, dict(arguments)))
    assert result.startswith("Sent to tour@band.example")
    assert ledger.status("tour@band.example") == "sent"
    assert len(smtp.handler.messages) == 1


def test_an_smtp_login_failure_reaches_the_model_without_the_password(
    smtp: LocalSmtpServer,
) -> None:
    context = make_context(mailer=mailer_for(smtp, password=PASSWORD + "x"))
    message = raises_tool_error(SEND_EMAIL(context, {"subject": "s", "body": "b"}))
    assert "SMTP login to 127.0.0.1" in message
    assert PASSWORD not in message
    assert context.ledger.status("owner@band.example") == "failed"  # type: ignore[attr-defined]
