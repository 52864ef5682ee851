"""A webhook receiver on loopback, as a team's tool would run one: it checks each request's
signature with the `standardwebhooks` package (a verifier none of us wrote), answers 2xx to
what verifies, and can be told to fail the next N requests first. Tests count what it got."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int
    reason: str = ""

    @property
    def event(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    port: int
    secrets: list[str] = field(default_factory=list)  # any one verifying is enough
    fail_next: int = 0
    fail_status: int = 500
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/backbeat"

    def accepted(self) -> list[Received]:
        """What the receiver took: verified and answered 2xx."""
        with self.lock:
            return [each for each in self.requests if each.verified and each.answered < 300]

    def accepted_ids(self) -> list[str]:
        return [each.webhook_id for each in self.accepted()]

    def handle(self, headers: dict[str, str], body: bytes) -> int:
        verified, reason = False, "no secret"
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
            except WebhookVerificationError as exc:
                reason = str(exc)
            else:
                verified, reason = True, ""
                break
        with self.lock:
            if not verified:
                status = 400
            elif self.fail_next > 0:
                self.fail_next -= 1
                status = self.fail_status
            else:
                status = 204
            self.requests.append(
                Received(headers.get("webhook-id", ""), headers, body, verified, status, reason)
            )
        return status


@contextmanager
def webhook_receiver(*secrets: str) -> Iterator[Receiver]:
    receiver = Receiver(port=0, secrets=list(secrets))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            headers = {key.lower(): value for key, value in self.headers.items()}
            status = receiver.handle(headers, body)
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
