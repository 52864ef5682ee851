"""send_email's mailer: plain-text mail through the configured SMTP server (stdlib smtplib).

The password stays inside this object: it is not in its repr, and nothing it reports (a
SendResult's detail) carries the password or its AUTH encodings. It raises nothing for a
failed send: every way a send can end is a SendResult the outbox records.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import EmailMessage
from email.policy import SMTP, SMTPUTF8
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from backbeat.agents.tools.base import Mailer, OutgoingEmail
from backbeat.config import Settings
from backbeat.domain.deliveries import SendOutcome, SendResult

IMPLICIT_TLS_PORT = 465  # SMTPS: TLS from the first byte, so no STARTTLS
SMTP_THREADS = 8  # sends at once per process; more wait their turn


class _Refused(Exception):
    """The server refused a step before the message was sent (its reply code decides)."""

    def __init__(self, code: int, reply: bytes, what: str, *, recipient: bool = False) -> None:
        super().__init__(what)
        self.code = code
        self.reply = reply
        self.what = what
        self.recipient = recipient  # a 5xx for a recipient: that address is refused


def _quoted(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, then CRLF.CRLF."""
    data = re.sub(rb"(?:\r\n|\n|\r(?!\n))", b"\r\n", message)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


class SmtpMailer:
    """A Mailer over SMTP: one connection per email, STARTTLS when asked (always TLS on port
    465), AUTH when a username is set. smtplib blocks, so each send runs in a thread.

    It tells the outbox exactly how far a send got. Before the end of the message nothing can
    have been delivered: a refusal or a lost connection there is TEMPORARY (4xx, network) or
    PERMANENT/REFUSED (5xx). Once the final "." has left, the server may have accepted it: a
    250 is ACCEPTED, a 4xx or 5xx reply an explicit rejection (TEMPORARY or PERMANENT), and
    no reply, a timeout or a dropped connection UNCONFIRMED, which is never sent again. An
    error at QUIT, after the 250, changes nothing. Timeouts follow RFC 5321 §4.5.3.2:
    `timeout_seconds` for the greeting and each command (5 minutes), `data_timeout_seconds`
    for the reply to the end of the message (10 minutes).
    """

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        sender: str,
        starttls: bool,
        *,
        timeout_seconds: float = 300.0,
        data_timeout_seconds: float = 600.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.__password = password
        self.sender = sender
        self.starttls = starttls
        self.timeout_seconds = timeout_seconds
        self.data_timeout_seconds = data_timeout_seconds
        self._ssl_context = ssl_context
        self._threads = ThreadPoolExecutor(SMTP_THREADS, thread_name_prefix="smtp")

    def __repr__(self) -> str:
        return (
            f"SmtpMailer(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"password={'***' if self.__password else None}, sender={self.sender!r}, "
            f"starttls={self.starttls})"
        )

    @property
    def longest_send(self) -> timedelta:
        """How long one send can take at most (connect, greeting, EHLO, STARTTLS, EHLO, AUTH,
        MAIL, RCPT, DATA: a command timeout each; then the message's reply)."""
        return timedelta(seconds=9 * self.timeout_seconds + self.data_timeout_seconds)

    async def send(self, email: OutgoingEmail) -> SendResult:
        if not email.recipients:
            return SendResult(SendOutcome.PERMANENT, "an email needs at least one recipient")
        try:
            message = self.message(email)
        except (ValueError, TypeError) as exc:
            return SendResult(SendOutcome.PERMANENT, f"the message could not be built: {exc}")
        # Threads of its own: a hanging mail server must not take the ones the worker's
        # database steps (lease renewals among them) run on.
        loop = asyncio.get_running_loop()
        result = await loop.run_in_executor(
            self._threads, self._send, message, list(email.recipients)
        )
        return SendResult(result.outcome, self._scrub(result.detail))

    def message(self, email: OutgoingEmail) -> EmailMessage:
        """The EmailMessage that `send` would send."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(email.recipients)
        message["Subject"] = _one_line(email.subject)
        message["Date"] = formatdate(usegmt=True)
        domain = self.sender.rpartition("@")[2].strip(" >") or "backbeat.localhost"
        message["Message-ID"] = make_msgid(domain=domain)  # a domain: no slow getfqdn()
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message["X-Mailer"] = "Backbeat"
        message.set_content(email.body)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
        return message

    def _send(self, message: EmailMessage, recipients: list[str]) -> SendResult:
        smtp: smtplib.SMTP | None = None
        message_sent = False  # the final "." may have reached the server
        try:
            smtp = self._connect()
            international = not all(a.isascii() for a in [self.sender, *recipients])
            options = ["SMTPUTF8", "BODY=8BITMIME"] if international else []
            code, reply = smtp.mail(self.sender, options)
            if code != 250:
                raise _Refused(code, reply, f"the sender {self.sender}")
            for recipient in recipients:
                code, reply = smtp.rcpt(recipient)
                if code not in (250, 251):
                    raise _Refused(code, reply, recipient, recipient=True)
            code, reply = smtp.docmd("DATA")
            if code != 354:
                raise _Refused(code, reply, "the message (DATA)")
            data = _quoted(message.as_bytes(policy=SMTPUTF8 if international else SMTP))
            message_sent = True
            assert smtp.sock is not None
            smtp.sock.settimeout(self.data_timeout_seconds)
            smtp.send(data)
            code, reply = smtp.getreply()
            smtp.sock.settimeout(self.timeout_seconds)  # QUIT is a command like any other
            return self._after_message(code, reply)
        except _Refused as refused:
            return self._refusal(refused)
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            detail = self._explain(exc)
            if message_sent:
                return SendResult(
                    SendOutcome.UNCONFIRMED,
                    f"no confirmation after the message was sent ({detail}); "
                    "it may have been delivered, so it is not sent again",
                )
            # A server without STARTTLS or SMTPUTF8 will not grow it by the next try.
            permanent = isinstance(exc, ValueError | smtplib.SMTPNotSupportedError) or (
                isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500
            )
            return SendResult(SendOutcome.PERMANENT if permanent else SendOutcome.TEMPORARY, detail)
        finally:
            if smtp is not None:
                _quit(smtp)

    def _after_message(self, code: int, reply: bytes) -> SendResult:
        """The server's word on a message it had in full. Only an explicit refusal (4xx, 5xx)
        means it did not take it; a reply that is neither (unreadable, another code) may
        hide an acceptance, so it is unconfirmed and never sent again."""
        text = smtp_reply(code, reply)
        if 200 <= code < 300:
            return SendResult(SendOutcome.ACCEPTED, text)
        rejected = f"the SMTP server {self._where} rejected the message: {text}"
        if 400 <= code < 500:
            return SendResult(SendOutcome.TEMPORARY, rejected)
        if 500 <= code < 600:
            return SendResult(SendOutcome.PERMANENT, rejected)
        return SendResult(
            SendOutcome.UNCONFIRMED,
            f"the SMTP server {self._where} answered the message with {text!r}; it may have "
            "been delivered, so it is not sent again",
        )

    def _connect(self) -> smtplib.SMTP:
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.port == IMPLICIT_TLS_PORT:
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.starttls and self.port != IMPLICIT_TLS_PORT:
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.username:
                smtp.login(self.username, self.__password or "")
        except BaseException:
            _quit(smtp)
            raise
        return smtp

    def _refusal(self, refused: _Refused) -> SendResult:
        reply = smtp_reply(refused.code, refused.reply)
        text = f"the SMTP server {self._where} refused {refused.what}: {reply}"
        if refused.code < 500:
            return SendResult(SendOutcome.TEMPORARY, text)
        return SendResult(SendOutcome.REFUSED if refused.recipient else SendOutcome.PERMANENT, text)

    @property
    def _where(self) -> str:
        return f"{self.host}:{self.port}"

    def _explain(self, exc: Exception) -> str:
        where = f"{self.host}:{self.port}"
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            return (
                f"SMTP login to {where} failed: {smtp_reply(exc.smtp_code, exc.smtp_error)}; "
                "check BACKBEAT_SMTP_USERNAME and BACKBEAT_SMTP_PASSWORD"
            )
        if isinstance(exc, smtplib.SMTPRecipientsRefused):
            refused = ", ".join(
                f"{address} ({smtp_reply(code, text)})"
                for address, (code, text) in exc.recipients.items()
            )
            return f"the SMTP server {where} refused {refused or 'every recipient'}"
        if isinstance(exc, smtplib.SMTPSenderRefused):
            return (
                f"the SMTP server {where} refused the sender {self.sender}: "
                f"{smtp_reply(exc.smtp_code, exc.smtp_error)}"
            )
        if isinstance(exc, smtplib.SMTPResponseException):
            return f"SMTP error from {where}: {smtp_reply(exc.smtp_code, exc.smtp_error)}"
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            return (
                f"the SMTP server {where} does not support that ({exc}); "
                "check BACKBEAT_SMTP_STARTTLS"
            )
        if isinstance(exc, ssl.SSLCertVerificationError):
            return f"TLS with the SMTP server {where} failed: {exc.verify_message or exc.reason}"
        if isinstance(exc, ssl.SSLError):
            return f"TLS with the SMTP server {where} failed: {exc.reason or type(exc).__name__}"
        if isinstance(exc, TimeoutError):
            return f"the SMTP server {where} timed out"
        if isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPException):
            return f"could not reach the SMTP server {where}: {exc.strerror or type(exc).__name__}"
        return f"sending through {where} failed: {type(exc).__name__}: {exc}"

    def _scrub(self, text: str) -> str:
        return scrub_password(text, self.username, self.__password or "")


if TYPE_CHECKING:
    _mailer: Mailer = SmtpMailer("localhost", 25, None, None, "a@localhost", False)


def scrub_password(text: str, username: str | None, password: str) -> str:
    """`text` without the SMTP password, as typed or as AUTH PLAIN/LOGIN encode it (a server
    may echo the exchange in an error)."""
    if not password:
        return text
    secrets = {
        password,
        base64.b64encode(password.encode()).decode(),
        base64.b64encode(f"\0{username or ''}\0{password}".encode()).decode(),
    }
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _quit(smtp: smtplib.SMTP) -> None:
    """Say goodbye; whatever the server answers now changes nothing."""
    with contextlib.suppress(smtplib.SMTPException, OSError):
        smtp.quit()
    with contextlib.suppress(OSError):
        smtp.close()


def smtp_reply(code: int, text: bytes | str) -> str:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {detail}".strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mailer_from_settings(settings: Settings) -> SmtpMailer | None:
    """The configured SMTP mailer, or None when BACKBEAT_SMTP_HOST is unset."""
    if not settings.smtp_host:
        return None
    password = settings.smtp_password
    return SmtpMailer(
        host=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=password.get_secret_value() if password is not None else None,
        sender=settings.smtp_from,
        starttls=settings.smtp_starttls,
        timeout_seconds=settings.smtp_timeout_seconds,
        data_timeout_seconds=settings.smtp_data_timeout_seconds,
    )
