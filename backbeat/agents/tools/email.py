"""send_email's mailer: plain-text mail through the configured SMTP server (stdlib smtplib).

The password stays inside this object: it is not in its repr, and every error raised from
here is a MailError whose text has the password (and its AUTH encodings) scrubbed out, with
the original exception detached so no traceback can carry it either.
"""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import TYPE_CHECKING

from backbeat.agents.tools.base import Mailer, OutgoingEmail
from backbeat.config import Settings

IMPLICIT_TLS_PORT = 465  # SMTPS: TLS from the first byte, so no STARTTLS


class MailError(Exception):
    """Sending failed. The message is safe to log and to show the model (no credentials).

    `permanent` when the server answered 5xx (a refused recipient, a failed login): trying
    again later will not help. Otherwise (no connection, a timeout, 4xx) it may.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


def _permanent(exc: Exception) -> bool:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    if isinstance(exc, smtplib.SMTPResponseException):
        return exc.smtp_code >= 500
    return isinstance(exc, ValueError)


class SmtpMailer:
    """A Mailer over SMTP: one connection per email, STARTTLS when asked (always TLS on port
    465), AUTH when a username is set. smtplib blocks, so each send runs in a thread."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str | None,
        password: str | None,
        sender: str,
        starttls: bool,
        *,
        timeout_seconds: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.__password = password
        self.sender = sender
        self.starttls = starttls
        self.timeout_seconds = timeout_seconds
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return (
            f"SmtpMailer(host={self.host!r}, port={self.port}, username={self.username!r}, "
            f"password={'***' if self.__password else None}, sender={self.sender!r}, "
            f"starttls={self.starttls})"
        )

    async def send(self, email: OutgoingEmail) -> None:
        if not email.recipients:
            raise MailError("an email needs at least one recipient")
        failure: str | None = None
        permanent = False
        try:
            message = self.message(email)
            await asyncio.to_thread(self._send, message, list(email.recipients))
        except MailError as exc:
            failure, permanent = str(exc), exc.permanent
        except (smtplib.SMTPException, OSError, ValueError) as exc:
            failure, permanent = self._explain(exc), _permanent(exc)
        if failure is not None:
            # Raised out here, not in the except clause: no __context__ links the original
            # exception (whose text or traceback could carry server replies) to this one.
            raise MailError(self._scrub(failure), permanent=permanent)

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
        return message

    def _send(self, message: EmailMessage, recipients: list[str]) -> None:
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.port == IMPLICIT_TLS_PORT:
            smtp = smtplib.SMTP_SSL(
                self.host, self.port, timeout=self.timeout_seconds, context=context
            )
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout_seconds)
        with smtp:
            if self.starttls and self.port != IMPLICIT_TLS_PORT:
                smtp.starttls(context=context)
            if self.username:
                smtp.login(self.username, self.__password or "")
            refused = smtp.send_message(message, from_addr=self.sender, to_addrs=recipients)
            if refused:
                raise MailError(
                    "the SMTP server refused "
                    + ", ".join(f"{address} ({code})" for address, (code, _) in refused.items()),
                    permanent=all(code >= 500 for code, _ in refused.values()),
                )

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
            return f"the SMTP server {where} timed out after {self.timeout_seconds:g} s"
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


def smtp_reply(code: int, text: bytes | str) -> str:
    detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {detail}".strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mailer_from_settings(settings: Settings) -> Mailer | None:
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
    )
