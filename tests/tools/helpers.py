"""Shared pieces for the tool tests: an asyncio runner, local HTTP and SMTP servers, and a
ToolContext builder. Everything listens on 127.0.0.1 only."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar
from uuid import uuid4

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from backbeat.agents.tools.base import Mailer, RunOutbox, ToolContext, ToolError, WebFetcher
from backbeat.domain.failures import AttemptFailed
from backbeat.testing.fake_tools import InMemoryRunOutbox, RecordingMailer, StaticFetcher
from tests.processes import free_port

T = TypeVar("T")


def run(awaitable: Awaitable[T]) -> T:
    """pytest-asyncio is not installed: each async test body runs in its own loop."""

    async def main() -> T:
        return await awaitable

    return asyncio.run(main())


def raises_tool_error(awaitable: Awaitable[object]) -> str:
    """The message of the ToolError the awaitable raises (and fail if it raises none)."""

    async def main() -> str:
        try:
            await awaitable
        except ToolError as exc:
            return str(exc)
        raise AssertionError("expected a ToolError")

    return asyncio.run(main())


# HTTP

Route = Callable[[BaseHTTPRequestHandler, "LocalHttpServer"], None]


class LocalHttpServer:
    """A threaded HTTP(S) server on 127.0.0.1 serving `routes` (path -> handler function)."""

    def __init__(self, routes: dict[str, Route], tls: ssl.SSLContext | None = None) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str | None]] = []  # (path, Host header)
        self.sni_names: list[str | None] = []
        self.release = threading.Event()  # set at shutdown: slow handlers give up
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server.requests.append((self.path, self.headers.get("Host")))
                route = server.routes.get(self.path.split("?", 1)[0])
                if route is None:
                    send(self, 404, b"not found", "text/plain")
                else:
                    route(self, server)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:

            def remember(sock: ssl.SSLObject, name: str, ctx: ssl.SSLContext) -> None:
                self.sni_names.append(name)

            tls.sni_callback = remember
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def __enter__(self) -> LocalHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


@contextmanager
def serve_page(path: str, html: bytes) -> Iterator[str]:
    """One HTML page at `path` on 127.0.0.1 (a LocalHttpServer); yields its URL."""

    def page(handler: BaseHTTPRequestHandler, _server: LocalHttpServer) -> None:
        send(handler, 200, html, "text/html; charset=utf-8")

    with LocalHttpServer({path: page}) as server:
        yield server.url(path)


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str | None,
    headers: Iterable[tuple[str, str]] = (),
) -> None:
    handler.send_response(status)
    if content_type is not None:
        handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in headers:
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


def fake_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    """A resolver answering from `table` (host -> addresses), recording each question."""
    asked: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        asked.append(host)
        if host not in table:
            raise ToolError(f"could not resolve {host}")
        return list(table[host])

    resolve.asked = asked  # type: ignore[attr-defined]
    return resolve


# SMTP


@dataclass
class SmtpHandler:
    """Collects what the local SMTP server receives; `fail_next` makes DATA fail."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str | None, list[str]]] = field(default_factory=list)
    fail_next: int = 0
    failure: str = "451 4.3.0 Temporary failure, try again later"
    mail_reply: str | None = None  # reply to MAIL FROM instead of accepting it

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.fail_next > 0:
            self.fail_next -= 1
            return self.failure
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


def authenticator(username: str, password: str) -> Callable[..., AuthResult]:
    def check(
        server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == username.encode()
            and auth_data.password == password.encode()
        )
        return AuthResult(success=ok, handled=False)

    return check


class LocalSmtpServer:
    """aiosmtpd on 127.0.0.1 in its own thread; `**options` go to aiosmtpd's SMTP."""

    def __init__(self, handler: SmtpHandler | None = None, **options: Any) -> None:
        self.handler = handler or SmtpHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, **options)

    def __enter__(self) -> LocalSmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# Tool contexts


def make_context(
    *,
    owner: str | None = "owner@band.example",
    team: Iterable[str] = ("owner@band.example", "Manager@Band.example", "tour@band.example"),
    mailer: Mailer | None = None,
    no_mailer: bool = False,
    outbox: RunOutbox | None = None,
    fetcher: WebFetcher | None = None,
    outputs: list[dict[str, Any]] | None = None,
    artist: dict[str, Any] | None = None,
) -> ToolContext:
    asked: list[int] = []

    async def previous_outputs(limit: int) -> list[dict[str, Any]]:
        asked.append(limit)
        return list(outputs or [])[:limit]

    context = ToolContext(
        run_id="run_test",
        task_id=uuid4(),
        account_id=uuid4(),
        artist=artist
        or {"id": str(uuid4()), "name": "Nova Lights", "profile": {"genre": "synth-pop"}},
        owner_email=owner,
        team_emails=frozenset(team),
        previous_outputs=previous_outputs,
        fetcher=fetcher or StaticFetcher(),
        outbox=outbox or InMemoryRunOutbox(None if no_mailer else mailer or RecordingMailer()),
    )
    context.asked_limits = asked  # type: ignore[attr-defined]
    return context


def raises_retryable_failure(awaitable: Awaitable[object]) -> AttemptFailed:
    """The AttemptFailed the awaitable raises, which must be retryable (fail otherwise)."""

    async def main() -> AttemptFailed:
        try:
            await awaitable
        except AttemptFailed as exc:
            return exc
        raise AssertionError("expected a retryable AttemptFailed")

    failure = asyncio.run(main())
    assert failure.kind.retryable, failure.kind
    return failure
