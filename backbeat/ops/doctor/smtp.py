"""SMTP: connect, STARTTLS and log in as configured, then QUIT (nothing is sent)."""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable

from backbeat.agents.tools.email import IMPLICIT_TLS_PORT, scrub_password, smtp_reply
from backbeat.config import Settings
from backbeat.ops.doctor.check import Check, os_reason

SMTP_TIMEOUT = 10.0


def check_smtp(settings: Settings, timeout: float = SMTP_TIMEOUT) -> Check:
    """Connect, STARTTLS and log in as configured, then QUIT: nothing is sent."""
    host = settings.smtp_host
    if not host:
        return Check(
            "smtp",
            "skip",
            "not configured: set BACKBEAT_SMTP_HOST (and _PORT, _USERNAME, _PASSWORD) for tasks "
            "to send email",
        )
    port = settings.smtp_port
    where = f"{host}:{port}"
    username = settings.smtp_username or None
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
    implicit_tls = port == IMPLICIT_TLS_PORT
    starttls = settings.smtp_starttls and not implicit_tls
    done: list[str] = []
    step = "connecting"
    try:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if implicit_tls:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
        with smtp:
            step = "greeting"
            smtp.ehlo()
            if starttls:
                step = "STARTTLS"
                smtp.starttls(context=context)
                smtp.ehlo()
                done.append("STARTTLS")
            if username:
                step = "login"
                smtp.login(username, password)
                done.append(f"the login as {username}")
    except Exception as exc:

        def scrub(text: str) -> str:  # what the server said could quote the password
            return scrub_password(text, username, password)

        return Check("smtp", "fail", _smtp_failure(exc, where, step, username, timeout, scrub))
    found = f"{where} answered" + (f"; {' and '.join(done)} succeeded" if done else "")
    found += " (nothing was sent)"
    if username and not (starttls or implicit_tls) and not _loopback(host):
        return Check(
            "smtp",
            "warn",
            f"{found}, but the password crosses the network in clear: turn on "
            "BACKBEAT_SMTP_STARTTLS, or use port 465",
        )
    if password and not username:
        return Check(
            "smtp",
            "warn",
            f"{found}, but BACKBEAT_SMTP_PASSWORD is set without BACKBEAT_SMTP_USERNAME: "
            "no login happens",
        )
    return Check("smtp", "ok", found)


def _smtp_failure(
    exc: BaseException,
    where: str,
    step: str,
    username: str | None,
    timeout: float,
    scrub: Callable[[str], str],
) -> str:
    """What went wrong, naming the settings to fix; `scrub` cleans what the server said."""
    reach = "fix BACKBEAT_SMTP_HOST and BACKBEAT_SMTP_PORT"
    reply = ""
    if isinstance(exc, smtplib.SMTPResponseException):
        reply = scrub(smtp_reply(exc.smtp_code, exc.smtp_error))
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return (
            f"{where} refused the login as {username} ({reply}):"
            " fix BACKBEAT_SMTP_USERNAME and BACKBEAT_SMTP_PASSWORD"
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        if step == "STARTTLS":
            return (
                f"{where} does not offer STARTTLS: set BACKBEAT_SMTP_STARTTLS=false (a local "
                "relay), or use port 465 (TLS from the start)"
            )
        return (
            f"{where} does not offer a login: unset BACKBEAT_SMTP_USERNAME, or turn on "
            "BACKBEAT_SMTP_STARTTLS (many servers offer it only after STARTTLS)"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS with {where} failed ({scrub(str(exc.verify_message or exc.reason))}): "
            "BACKBEAT_SMTP_HOST must be the name on the server's certificate"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS with {where} failed ({scrub(str(exc.reason or type(exc).__name__))}): check "
            "BACKBEAT_SMTP_PORT (465 is TLS from the start, 587 STARTTLS)"
        )
    if isinstance(exc, TimeoutError):
        return f"no answer from {where} within {timeout:g} s ({step}): {reach}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return f"{where} closed the connection ({step}): {reach}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{where} answered {reply} ({step})"
    if isinstance(exc, OSError):
        return f"cannot reach {where} ({scrub(os_reason(exc))}): {reach}"
    return f"{where}: the check failed ({step}): {type(exc).__name__}: {scrub(str(exc))}"


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")
