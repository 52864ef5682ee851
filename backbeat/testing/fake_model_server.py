"""The fake model server itself: a stdlib HTTP server on loopback (a thread per connection,
keep-alive) that answers each model request from its scripts, records what it saw, and takes
scripts over HTTP on /_control/ from another process. See backbeat.testing.fake_models.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from backbeat.testing.fake_model_limits import Limits, RateLimit, input_tokens
from backbeat.testing.fake_model_script import (
    Answer,
    Api,
    Delay,
    Disconnect,
    ErrorReply,
    RawReply,
    RecordedRequest,
    Reply,
    Responder,
    ScriptItem,
    ToolCallReply,
    echo,
    item_from_json,
)
from backbeat.testing.fake_model_wire import (
    anthropic_message,
    error_body,
    openai_completion,
    usage_of,
)


class FakeModelServer:
    """The fake, on loopback. Use as a context manager, or start() and stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float = 0.0,
        max_recorded: int | None = None,
        limit: RateLimit | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock` (seconds) is the rate limits' time: a test may run it faster."""
        self.delay = delay
        self._clock = clock
        self._limits: Limits | None = None if limit is None else Limits(limit, clock)
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._queues: dict[str | None, deque[ScriptItem]] = {}
        self._standing: dict[str | None, Answer | Responder] = {}
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._record = max_recorded != 0
        self._ids = itertools.count(1)
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    # Lifecycle.

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = str(self._httpd.server_address[0])
        return f"http://{host}:{self.port}"

    @property
    def url_anthropic(self) -> str:
        """The base URL for Anthropic's SDK (it adds /v1/messages)."""
        return self.url

    @property
    def url_openai(self) -> str:
        """The base URL for OpenAI's SDK (it adds /chat/completions)."""
        return self.url + "/v1"

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.01},
                name="fake-models",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes delayed answers
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # Scripting.

    def script(self, *items: ScriptItem, model: str | None = None) -> None:
        """Queue answers, each used once: for requests naming `model`, or for any model."""
        with self._lock:
            self._queues.setdefault(model, deque()).extend(items)

    def always(self, behaviour: Answer | Responder, *, model: str | None = None) -> None:
        """What to answer when the scripts are used up: for `model`, or for any model."""
        with self._lock:
            self._standing[model] = behaviour

    def reset(self) -> None:
        """Forget scripts, standing behaviours and recorded requests."""
        with self._lock:
            self._queues.clear()
            self._standing.clear()
            self._requests.clear()

    def rate_limit(self, limit: RateLimit | None) -> None:
        """Enforce these rate limits from now on (fresh, full buckets), or none (None)."""
        with self._lock:
            self._limits = None if limit is None else Limits(limit, self._clock)

    @property
    def rate_limited(self) -> int:
        """Requests answered 429 by the rate limits (not scripted 429s)."""
        return self.limit_stats()["rate_limited"]

    def limit_stats(self) -> dict[str, int]:
        """Requests refused (429) and let in by the rate limits, and the tokens charged."""
        with self._lock:
            limits = self._limits
            if limits is None:
                return {"rate_limited": 0, "admitted": 0, "tokens": 0}
            return {
                "rate_limited": limits.refused,
                "admitted": limits.admitted,
                "tokens": limits.tokens,
            }

    @property
    def pending(self) -> int:
        """Scripted items not used yet."""
        with self._lock:
            return sum(len(queue) for queue in self._queues.values())

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, model: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.model == model]

    # Serving (called on the handler threads).

    def _admit(self, request: RecordedRequest) -> tuple[float | None, dict[str, str]]:
        """(None or the seconds to wait before a retry: a 429, the rate-limit headers)."""
        with self._lock:
            if self._limits is None:
                return None, {}
            wait = self._limits.admit(request.api, input_tokens(request))
            return wait, self._limits.headers(request.api, wait)

    def _paid(self, request: RecordedRequest, reply: Reply) -> dict[str, str]:
        """Charge an answer's output (and any input beyond the estimate): its headers."""
        with self._lock:
            if self._limits is None:
                return {}
            used_in, used_out = usage_of(request, reply)
            self._limits.pay(request.api, used_out + used_in - input_tokens(request))
            return self._limits.headers(request.api)

    def _limit_headers(self, api: Api) -> dict[str, str]:
        with self._lock:
            return {} if self._limits is None else self._limits.headers(api)

    def _decide(self, request: RecordedRequest) -> tuple[float, Answer]:
        wait = self.delay
        with self._lock:
            if self._record:
                self._requests.append(request)
            for key in (request.model, None):
                queue = self._queues.get(key)
                while queue:
                    item = queue.popleft()
                    if isinstance(item, Delay):
                        wait += item.seconds
                        continue
                    return wait, item
            standing = self._standing.get(request.model) or self._standing.get(None)
        if standing is None:
            return wait, echo(request)
        if isinstance(standing, Reply | ToolCallReply | ErrorReply | RawReply | Disconnect):
            return wait, standing
        return wait, standing(request)

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _next_id(self) -> int:
        return next(self._ids)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    fake: FakeModelServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        fake = self.server.fake
        if path in ("/", "/health"):
            self._send_json(200, {"ok": True})
        elif path == "/_control/requests":
            self._send_json(200, [r.to_json() for r in fake.requests])
        elif path == "/_control/limits":
            self._send_json(200, fake.limit_stats())
        else:
            self._send_json(404, {"error": {"type": "not_found_error", "message": path}})

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            self._send_json(
                400, {"error": {"type": "invalid_request_error", "message": "bad JSON"}}
            )
            return
        if path == "/v1/messages":
            self._answer("anthropic", path, body)
        elif path in ("/v1/chat/completions", "/chat/completions"):
            self._answer("openai", path, body)
        elif path.startswith("/_control/"):
            self._control(path, body)
        else:
            self._send_json(404, {"error": {"type": "not_found_error", "message": path}})

    def _answer(self, api: Api, path: str, body: Any) -> None:
        if not isinstance(body, dict):
            self._send_json(400, error_body(api, 400, "the body must be a JSON object", None))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(api=api, path=path, headers=headers, body=body)
        fake = self.server.fake
        refused, limits = fake._admit(request)
        if refused is not None:
            message = "Rate limit exceeded (the fake model server's limits)"
            self._send_json(429, error_body(api, 429, message, None), limits)
            return
        wait, answer = fake._decide(request)
        fake._sleep(wait)
        if isinstance(answer, Disconnect):
            self.close_connection = True
            return
        if isinstance(answer, ErrorReply):
            self._send_error_reply(api, answer, fake._limit_headers(api))
            return
        if isinstance(answer, RawReply):
            self._send_raw(answer.status, answer.body, answer.headers)
            return
        reply = answer.as_reply() if isinstance(answer, ToolCallReply) else answer
        number = fake._next_id()
        limits = fake._paid(request, reply)
        if api == "anthropic":
            self._send_json(200, anthropic_message(request, reply, number), limits)
        else:
            self._send_json(200, openai_completion(request, reply, number), limits)

    def _send_error_reply(
        self, api: Api, error: ErrorReply, limits: Mapping[str, str] | None = None
    ) -> None:
        headers = {**(limits or {}), **error.headers}
        if error.retry_after is not None:
            value = error.retry_after
            headers["retry-after"] = value if isinstance(value, str) else f"{value:g}"
        if error.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{error.retry_after_ms:g}"
        if error.body is not None:
            self._send_raw(error.status, error.body, headers)
            return
        body = error_body(api, error.status, error.message, error.error_type)
        self._send_json(error.status, body, headers)

    def _send_raw(
        self, status: int, body: str | Mapping[str, Any], headers: Mapping[str, str]
    ) -> None:
        if isinstance(body, str):
            self._send(status, body.encode(), "text/plain; charset=utf-8", headers)
        else:
            self._send_json(status, dict(body), headers)

    def _control(self, path: str, body: Any) -> None:
        fake = self.server.fake
        try:
            if path == "/_control/script":
                items = [item_from_json(i) for i in body.get("items", [])]
                fake.script(*items, model=body.get("model"))
            elif path == "/_control/always":
                item = item_from_json(body["item"])
                if isinstance(item, Delay):
                    raise ValueError("a standing behaviour cannot be a delay")
                fake.always(item, model=body.get("model"))
            elif path == "/_control/reset":
                fake.reset()
            elif path == "/_control/limits":
                rpm, tpm = body.get("requests_per_minute"), body.get("tokens_per_minute")
                if rpm is None and tpm is None:
                    fake.rate_limit(None)
                else:
                    fake.rate_limit(RateLimit(rpm and float(rpm), tpm and float(tpm)))
            else:
                self._send_json(404, {"error": {"type": "not_found_error", "message": path}})
                return
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            self._send_json(400, {"error": {"type": "invalid_request_error", "message": str(exc)}})
            return
        self._send_json(200, {"ok": True, "pending": fake.pending})

    def _send_json(
        self, status: int, body: object, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send(status, json.dumps(body).encode(), "application/json", headers or {})

    def _send(
        self, status: int, data: bytes, content_type: str, headers: Mapping[str, str]
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
            self.close_connection = True
