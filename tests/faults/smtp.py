"""An SMTP server (aiosmtpd on 127.0.0.1) that fails on purpose, at a chosen stage, and
counts what it actually received: a message counts once the server had all of it (the final
"." arrived), whatever it answered afterwards.

Behaviours are queued per stage and used once each, in order; with none queued a stage
succeeds. The server can be stopped and started again on the same port ("down, then back").
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from backbeat.testing.fake_models import FakeModelServer
from tests.processes import clean_env, free_port

SENDER = "backbeat@label.example"
USERNAME = "backbeat"
PASSWORD = "smtp-password-for-tests"

# What the end of DATA may do (besides a plain reply such as "451 …" or "554 …").
HANG = "hang"  # keep the message, never answer (until the server stops)
DROP = "drop"  # keep the message, drop the connection without a reply
SLOW = "slow"  # keep the message, answer 250 after `slow_seconds`


@dataclass
class FaultPlan:
    auth: deque[bool] = field(default_factory=deque)  # per connection; False: every login 535
    rcpt: deque[str] = field(default_factory=deque)  # a reply such as "450 …", "550 …"
    rcpt_delay: deque[float] = field(default_factory=deque)  # seconds before answering RCPT
    data: deque[str] = field(default_factory=deque)  # a reply, HANG, DROP or SLOW
    quit: deque[str] = field(default_factory=deque)  # a reply such as "421 …"
    slow_seconds: float = 3.0


class FaultyHandler:
    def __init__(self) -> None:
        self.plan = FaultPlan()
        self.received: list[tuple[list[str], EmailMessage]] = []  # (recipients, message)
        self.rejected = 0  # complete messages answered with a 4xx or 5xx
        self.lock = threading.Lock()
        self.released = asyncio.Event()
        self._logins: dict[int, bool] = {}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.plan.rcpt_delay:
            await asyncio.sleep(self.plan.rcpt_delay.popleft())
        if self.plan.rcpt:
            return self.plan.rcpt.popleft()
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        behaviour = self.plan.data.popleft() if self.plan.data else "250 Message accepted"
        if behaviour[:1] in ("4", "5"):
            with self.lock:
                self.rejected += 1
            return behaviour
        self._keep(envelope)
        if behaviour == HANG:
            await self.released.wait()
            return "421 shutting down"
        if behaviour == DROP:
            transport = server.transport
            assert isinstance(transport, asyncio.Transport)
            transport.abort()
            return "250 never heard"
        if behaviour == SLOW:
            await asyncio.sleep(self.plan.slow_seconds)
            return "250 Message accepted, late"
        return behaviour

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str | None:
        return self.plan.quit.popleft() if self.plan.quit else "221 Bye"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        # smtplib tries the next mechanism after a 535: decide once per connection.
        key = id(session)
        if key not in self._logins:
            self._logins[key] = self.plan.auth.popleft() if self.plan.auth else True
        allowed = self._logins[key]
        ok = (
            allowed
            and isinstance(auth_data, LoginPassword)
            and auth_data.login == USERNAME.encode()
            and auth_data.password == PASSWORD.encode()
        )
        return AuthResult(success=ok, handled=False)

    def _keep(self, envelope: Envelope) -> None:
        parsed = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        with self.lock:
            self.received.append((list(envelope.rcpt_tos), parsed))

    def copies(self, address: str) -> int:
        """Complete messages received for `address`."""
        with self.lock:
            return sum(address in recipients for recipients, _ in self.received)


class FaultySmtpServer:
    """The server, on a port of its own that stays the same across stop() and start()."""

    def __init__(self) -> None:
        self.handler = FaultyHandler()
        self.port = free_port()
        self._controller: Controller | None = None

    def start(self) -> None:
        self.handler.released = asyncio.Event()
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=self.handler.authenticate,
            auth_require_tls=False,
        )
        self._controller.start()

    def stop(self) -> None:
        if self._controller is None:
            return
        controller, self._controller = self._controller, None
        assert controller.loop is not None
        controller.loop.call_soon_threadsafe(self.handler.released.set)
        controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def __enter__(self) -> FaultySmtpServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_env(
    directory: Path, models: FakeModelServer, smtp: FaultySmtpServer, **extra: str
) -> dict[str, str]:
    """Settings of a Backbeat on SQLite in `directory` whose model is `models` and whose mail
    server is `smtp` (which it logs in to), its clock on a Wednesday; `extra` on top."""
    return clean_env(
        BACKBEAT_DATABASE_URL=f"sqlite:///{directory / 'backbeat.db'}",
        BACKBEAT_CLOCK_START="2026-01-07T10:00:00Z",
        BACKBEAT_WORKER_POLL_SECONDS="0.2",
        BACKBEAT_ANTHROPIC_API_KEY="sk-test",
        BACKBEAT_ANTHROPIC_BASE_URL=models.url_anthropic,
        BACKBEAT_SMTP_HOST="127.0.0.1",
        BACKBEAT_SMTP_PORT=str(smtp.port),
        BACKBEAT_SMTP_FROM=SENDER,
        BACKBEAT_SMTP_STARTTLS="false",
        BACKBEAT_SMTP_USERNAME=USERNAME,
        BACKBEAT_SMTP_PASSWORD=PASSWORD,
        **extra,
    )
