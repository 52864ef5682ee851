"""Helpers for dashboard route tests: sign in, send forms with their CSRF token, read pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import httpx
from starlette.testclient import TestClient

from backbeat.domain.failures import AttemptFailed, FailureKind, RetryPolicy
from backbeat.services.worker import Outcome, WorkQueue
from backbeat.testing import FakeClock
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.outbox import email_sent

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node | str] = field(default_factory=list)

    @property
    def text(self) -> str:
        parts: list[str] = []
        for child in self.children:
            parts.append(child if isinstance(child, str) else child.text)
        text = "".join(parts)
        if self.tag in ("textarea", "pre") and text.startswith("\n"):
            text = text[1:]  # as browsers do
        return text

    def walk(self) -> Iterator[Node]:
        """This node and every element inside it, in document order."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(child for child in reversed(node.children) if isinstance(child, Node))


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


class Page:
    """A response read as HTML."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self.status = response.status_code
        self.html = response.text
        builder = _Builder()
        builder.feed(self.html)
        builder.close()
        self.root = builder.root
        self.nodes = list(self.root.walk())

    def all(self, tag: str | None = None, **attrs: str) -> list[Node]:
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        return [
            node
            for node in self.nodes
            if (tag is None or node.tag == tag)
            and all(node.attrs.get(name) == value for name, value in wanted.items())
        ]

    def one(self, tag: str | None = None, **attrs: str) -> Node:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}> in:\n{self.html}"
        return found[0]

    def testid(self, name: str) -> Node:
        return self.one(data_testid=name)

    def text(self, testid: str) -> str:
        return " ".join(self.testid(testid).text.split())

    @property
    def csrf(self) -> str:
        tokens = {node.attrs.get("value") for node in self.all("input", name="csrf_token")}
        assert len(tokens) == 1, tokens
        token = tokens.pop()
        assert token
        return token

    @property
    def title(self) -> str:
        return self.one("h1").text.strip()

    def label_for(self, control_id: str) -> str:
        return self.one("label", **{"for": control_id}).text.strip()


class Dashboard:
    """A browser of sorts: a test client with its own cookies, that knows the CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token: str | None = None

    def get(self, path: str, **params: str) -> Page:
        page = Page(self.client.get(path, params=params or None, follow_redirects=True))
        if page.all("input", name="csrf_token"):
            self.token = page.csrf
        return page

    def raw_get(self, path: str, **params: str) -> httpx.Response:
        return self.client.get(path, params=params or None, follow_redirects=False)

    def post(self, path: str, data: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        """POST the form with the current CSRF token (unless the data brings its own)."""
        if self.token is None:
            self.get("/")
        body = {"csrf_token": self.token or "", **(data or {})}
        return self.client.post(path, data=body, follow_redirects=False, **kwargs)

    def submit(self, path: str, data: dict[str, str] | None = None) -> Page:
        """POST, then follow the redirect the way a browser does."""
        response = self.post(path, data)
        if response.status_code == 303:
            return self.get(response.headers["location"])
        return Page(response)

    def sign_in(self, key: str) -> httpx.Response:
        self.get("/")
        return self.post("/dashboard/sign-in", {"key": key})


def signed_in(client: TestClient, tenant: Tenant) -> Dashboard:
    dashboard = Dashboard(client)
    response = dashboard.sign_in(tenant.key)
    assert response.status_code == 303, response.text
    dashboard.get("/dashboard/tasks")
    return dashboard


def another_browser(client: TestClient) -> TestClient:
    """A second client on the same app, with its own cookie jar."""
    return TestClient(client.app, raise_server_exceptions=False)


def create_task(dashboard: Dashboard, tenant: Tenant, **fields: str) -> str:
    data = {
        "title": "Weekly Genre Pulse Check",
        "prompt": "Analyse this artist's genre trends and email the team a summary.",
        "schedule": "0 9 * * 4",
        "timezone": "UTC",
        "model": "",
        "artist_account_id": str(tenant.artist_id),
        **fields,
    }
    dashboard.get("/dashboard/tasks/new")
    response = dashboard.post("/dashboard/tasks/new", data)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    return location.split("/dashboard/tasks/")[1].split("?")[0]


OUTPUT: dict[str, Any] = {
    "text": "## Weekly pulse\n\nStreams are **up 12%** this week. See [the chart](https://example.com/charts).",
    "model": "openai/gpt-4o-mini",
    "provider": "openai",
    "provider_model": "gpt-4o-mini",
    "turns": 3,
    "tool_calls": [
        {
            "name": "fetch_web_page",
            "arguments": {"url": "https://example.com/charts"},
            "is_error": False,
            "result": "URL: https://example.com/charts\nStatus: 200",
        },
        {
            "name": "send_email",
            "arguments": {"to": ["alice@example.com", "mallory@evil.test"], "subject": "Pulse"},
            "is_error": False,
            "result": "Sent to alice@example.com (subject: 'Pulse').",
        },
    ],
    "emails_sent": [{"to": "alice@example.com", "subject": "Pulse"}],
    "emails_refused": [
        {"to": "mallory@evil.test", "subject": "Pulse", "reason": "not on the team"}
    ],
    "pages_fetched": [{"url": "https://example.com/charts", "status": 200}],
    "usage": {"input_tokens": 1200, "output_tokens": 345, "requests": 3},
    "price_known": True,
}


def work_queue(backbeat: Backbeat, clock: FakeClock) -> WorkQueue:
    return WorkQueue(backbeat.uow, clock, lease=timedelta(minutes=5), retry=RetryPolicy(jitter=0))


def finish_queued_run(
    backbeat: Backbeat,
    clock: FakeClock,
    output: dict[str, Any] | None = None,
    *,
    retry_first: bool = True,
    cost_in_cents: float = 1.5,
) -> None:
    """The queued run: optionally a rate-limited first attempt, then one completed with output."""
    queue = work_queue(backbeat, clock)
    if retry_first:
        clock.advance(seconds=5)
        [claim] = queue.claim("worker-1", 1)
        failure = AttemptFailed(FailureKind.RATE_LIMITED, "429 Too Many Requests", name="RateLimit")
        clock.advance(seconds=2)
        queue.finish(claim, Outcome(output=None, failure=failure, cost_in_cents=0.25))
    clock.advance(minutes=1)
    [claim] = queue.claim("worker-1", 1)
    clock.advance(seconds=3)
    # Emails go through the outbox, as send_email does; the run shows them from there.
    for email in (output or OUTPUT).get("emails_sent", []):
        email_sent(backbeat, clock, claim, email["to"], email["subject"])
    queue.finish(claim, Outcome(output=output or OUTPUT, failure=None, cost_in_cents=cost_in_cents))
