"""A web search API on loopback, for tests: it speaks SearXNG's JSON API (`GET /search?q=…
&format=json`), the Brave Search API (`GET /res/v1/web/search?q=…&count=…` with
`X-Subscription-Token`) and Tavily's (`POST /search` with a JSON body and `Authorization:
Bearer …`), each in its own answer shape, and refuses a wrong key the way each does (401).

Results come from `results` (title, url, snippet), the same for every API; `answer(status,
body)` makes the next requests fail; `hang()` holds them unanswered. Every request is
recorded (path, query, headers, JSON body).

    with FakeSearch(key="k") as search:
        searcher = HttpSearcher("brave", base_url=search.url("brave"), api_key="k", ...)
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

PATHS = {
    "searxng": "/searxng",  # SearXNG is configured by its base address; it adds /search
    "brave": "/res/v1/web/search",
    "tavily": "/tavily/search",
}


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    snippet: str


@dataclass(frozen=True)
class SearchRequest:
    api: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeSearch:
    key: str = "search-key"
    results: list[SearchHit] = field(
        default_factory=lambda: [
            SearchHit("Nova Lights tops the synthpop chart", "https://charts.example/nova", "…")
        ]
    )
    requests: list[SearchRequest] = field(default_factory=list)
    _failures: list[tuple[int, str]] = field(default_factory=list)
    _hang: threading.Event = field(default_factory=threading.Event)
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> FakeSearch:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                fake._handle(self, body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._hang.clear()
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def url(self, api: str) -> str:
        """The address to configure for `api` (BACKBEAT_SEARCH_URL)."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{PATHS[api]}"

    def answer(self, status: int, body: str = "", times: int = 1) -> None:
        self._failures.extend([(status, body)] * times)

    def hang(self) -> None:
        self._hang.set()

    def _handle(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        parts = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(parts.query).items()}
        headers = {key.lower(): value for key, value in handler.headers.items()}
        api = next((name for name, path in PATHS.items() if parts.path.startswith(path)), "?")
        self.requests.append(SearchRequest(api, handler.command, parts.path, query, headers, body))
        if self._hang.is_set():
            while self._hang.is_set():
                time.sleep(0.05)
            return
        if self._failures:
            status, text = self._failures.pop(0)
            self._send(handler, status, text.encode(), "text/plain")
            return
        status, answer = self._answer(api, handler.command, query, headers, body)
        self._send(handler, status, json.dumps(answer).encode(), "application/json")

    def _answer(
        self, api: str, method: str, query: dict[str, str], headers: dict[str, str], body: Any
    ) -> tuple[int, Any]:
        hits = self.results
        if api == "searxng" and method == "GET" and query.get("format") == "json":
            if not query.get("q"):
                return 400, {"error": "no query"}
            items = [{"title": h.title, "url": h.url, "content": h.snippet} for h in hits]
            return 200, {"query": query["q"], "number_of_results": len(items), "results": items}
        if api == "brave" and method == "GET":
            if headers.get("x-subscription-token") != self.key:
                return 401, {
                    "type": "ErrorResponse",
                    "error": {"code": "SUBSCRIPTION_TOKEN_INVALID"},
                }
            count = int(query.get("count", "20"))
            items = [{"title": h.title, "url": h.url, "description": h.snippet} for h in hits]
            return 200, {"type": "search", "web": {"type": "search", "results": items[:count]}}
        if api == "tavily" and method == "POST" and isinstance(body, dict):
            if headers.get("authorization") != f"Bearer {self.key}":
                return 401, {"detail": {"error": "Unauthorized: missing or invalid API key."}}
            count = int(body.get("max_results", 5))
            scored: list[dict[str, Any]] = [
                {"title": h.title, "url": h.url, "content": h.snippet, "score": 0.9} for h in hits
            ]
            return 200, {"query": body.get("query"), "results": scored[:count]}
        return 404, {"error": "not found"}

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, kind: str) -> None:
        handler.send_response(status)
        handler.send_header("content-type", kind)
        handler.send_header("content-length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
