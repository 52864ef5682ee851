"""A scriptable fake model server: Anthropic's Messages API and OpenAI's Chat Completions.

One local HTTP server (stdlib, a thread per connection, keep-alive) that answers
`POST /v1/messages` the way Anthropic does and `POST /v1/chat/completions` the way OpenAI
does, non-streaming, with the real JSON shapes (ids, usage, stop_reason / finish_reason,
tool_use blocks / tool_calls), so the real SDK providers can be tested over loopback.

In a test::

    with FakeModelServer() as server:
        provider = AnthropicProvider("sk-test", base_url=server.url_anthropic)
        # or OpenAIProvider("sk-test", base_url=server.url_openai)
        server.script(
            ToolCallReply("fetch_web_page", {"url": "https://example.com"}),
            Reply("The final report"),
        )
        server.script(ErrorReply(429, retry_after=2), model="claude-other")  # that model only
        server.script(Delay(1.0), Reply("late"))  # a delay applies to the next reply
        ...
        assert server.requests[0].headers["authorization"] == "Bearer sk-test"  # anthropic 2.x
        assert server.requests[1].messages[-1]["content"][0]["type"] == "tool_result"

What answers a request for model M: the next item of M's script, else of the shared
script, else M's standing behaviour (`always(..., model=M)`), else the standing behaviour
for all models (`always(...)`), else the default: an echo, `Report: <last user text>`.
Script items are used once each; `always` takes an item or a function of the request.

As a process (for browser tests and benchmarks)::

    python -m backbeat.testing.fake_models --port 8199 [--delay 0.2] [--reply TEXT]

prints its base URL (`http://127.0.0.1:8199`; OpenAI clients add `/v1`) on the first line
of stdout, then serves until SIGINT/SIGTERM. Another process scripts it over HTTP:
`POST /_control/script` with `{"model": null, "items": [{"type": "error", "status": 429,
"retry_after": 2}, {"type": "reply", "text": "hi"}, {"type": "tool_call", "name": "x",
"arguments": {}}, {"type": "delay", "seconds": 1}, {"type": "disconnect"}, {"type": "raw",
"status": 200, "body": {...}}]}`,
`POST /_control/always` with `{"model": null, "item": {...}}`, `POST /_control/reset`,
and `GET /_control/requests`. `GET /health` answers `{"ok": true}`.

For benchmarks, `FakeModelServer(max_recorded=0)` (`--record 0`) keeps no requests and
answers at once: the cost per call is one small JSON parse and one small JSON dump.
"""

from __future__ import annotations

import argparse
import email.utils
import itertools
import json
import signal
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, Literal, Self

Api = Literal["anthropic", "openai"]


# --- What the server can be told to do -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCallReply:
    """A reply that calls one tool. `arguments` as a str is sent verbatim (broken JSON too)."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    text: str = ""
    id: str | None = None

    def as_reply(self) -> Reply:
        return Reply(text=self.text, tool_calls=(self,))


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer: text, tool calls, or both.

    `stop_reason` is Anthropic's; it defaults to "tool_use" when there are tool calls, else
    "end_turn". OpenAI gets the matching finish_reason ("tool_calls", "stop", "length"), or
    the value itself for any other ("content_filter"). Token counts default to an estimate
    (characters / 4).
    """

    text: str = ""
    tool_calls: tuple[ToolCallReply, ...] = ()
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ErrorReply:
    """An error answer in the API's own error shape (`body` replaces it, a str verbatim).

    `retry_after` is sent as the Retry-After header: seconds, or a str such as an HTTP date
    (see `http_date`). `retry_after_ms` is Anthropic's and OpenAI's `retry-after-ms`.
    """

    status: int
    message: str | None = None
    retry_after: float | str | None = None
    retry_after_ms: float | None = None
    error_type: str | None = None
    body: str | Mapping[str, Any] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RawReply:
    """Exactly this answer: for servers that bend the API (a missing field, an HTML page).

    A Mapping `body` is sent as JSON, a str verbatim.
    """

    body: str | Mapping[str, Any]
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delay:
    """Wait this long before the next answer (added to the server's base delay)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close the connection without answering."""


Answer = Reply | ToolCallReply | ErrorReply | RawReply | Disconnect
ScriptItem = Answer | Delay
Responder = Callable[["RecordedRequest"], Answer]


def http_date(seconds_from_now: float) -> str:
    """An HTTP date (as in Retry-After) this many seconds from now."""
    return email.utils.formatdate(time.time() + seconds_from_now, usegmt=True)


# --- What the server saw ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    api: Api
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: Mapping[str, Any]

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def messages(self) -> list[dict[str, Any]]:
        messages = self.body.get("messages")
        return list(messages) if isinstance(messages, list) else []

    @property
    def tools(self) -> list[dict[str, Any]]:
        tools = self.body.get("tools")
        return list(tools) if isinstance(tools, list) else []

    @property
    def system(self) -> str | None:
        """Anthropic's `system`, or the content of OpenAI's first system message."""
        if self.api == "anthropic":
            system = self.body.get("system")
            return system if isinstance(system, str) else None
        for message in self.messages:
            if isinstance(message, dict) and message.get("role") in ("system", "developer"):
                return _text_of(message.get("content"))
        return None

    def last_user_text(self) -> str:
        """The last thing the user (or a tool result) said, as plain text."""
        for message in reversed(self.messages):
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            if role in ("user", "tool"):
                return _text_of(message.get("content"))
        return ""

    def to_json(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "path": self.path,
            "headers": dict(self.headers),
            "body": self.body,
        }


def _text_of(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, dict):
                if isinstance(block.get("text"), str):
                    parts.append(block["text"])
                elif block.get("type") == "tool_result":
                    parts.append(_text_of(block.get("content")))
        return "\n".join(parts)
    return ""


def echo(request: RecordedRequest) -> Answer:
    """The default behaviour: a short report on the last user message."""
    text = " ".join(request.last_user_text().split())
    if len(text) > 200:
        text = text[:199] + "…"
    return Reply(f"Report: {text}")


# --- The server ------------------------------------------------------------------------------


class FakeModelServer:
    """The fake, on loopback. Use as a context manager, or start() and stop()."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        delay: float = 0.0,
        max_recorded: int | None = None,
    ) -> None:
        self.delay = delay
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
            self._send_json(400, _error_body(api, 400, "the body must be a JSON object", None))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        request = RecordedRequest(api=api, path=path, headers=headers, body=body)
        fake = self.server.fake
        wait, answer = fake._decide(request)
        fake._sleep(wait)
        if isinstance(answer, Disconnect):
            self.close_connection = True
            return
        if isinstance(answer, ErrorReply):
            self._send_error_reply(api, answer)
            return
        if isinstance(answer, RawReply):
            self._send_raw(answer.status, answer.body, answer.headers)
            return
        reply = answer.as_reply() if isinstance(answer, ToolCallReply) else answer
        number = fake._next_id()
        if api == "anthropic":
            self._send_json(200, _anthropic_message(request, reply, number))
        else:
            self._send_json(200, _openai_completion(request, reply, number))

    def _send_error_reply(self, api: Api, error: ErrorReply) -> None:
        headers = dict(error.headers)
        if error.retry_after is not None:
            value = error.retry_after
            headers["retry-after"] = value if isinstance(value, str) else f"{value:g}"
        if error.retry_after_ms is not None:
            headers["retry-after-ms"] = f"{error.retry_after_ms:g}"
        if error.body is not None:
            self._send_raw(error.status, error.body, headers)
            return
        body = _error_body(api, error.status, error.message, error.error_type)
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


# --- Wire shapes -----------------------------------------------------------------------------


def _estimate(value: object) -> int:
    text = value if isinstance(value, str) else json.dumps(value)
    return max(1, len(text) // 4)


def _input_tokens(request: RecordedRequest, reply: Reply) -> int:
    if reply.input_tokens is not None:
        return reply.input_tokens
    return _estimate([request.body.get("system"), request.messages, request.tools])


def _output_tokens(reply: Reply) -> int:
    if reply.output_tokens is not None:
        return reply.output_tokens
    calls = [(c.name, c.arguments) for c in reply.tool_calls]
    return _estimate(reply.text) + (_estimate(calls) if calls else 0)


def _anthropic_message(request: RecordedRequest, reply: Reply, number: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.text:
        content.append({"type": "text", "text": reply.text})
    for index, call in enumerate(reply.tool_calls):
        arguments = call.arguments
        if isinstance(arguments, str):  # Anthropic always sends an object: wrap broken JSON
            try:
                parsed = json.loads(arguments)
            except ValueError:
                parsed = None
            arguments = parsed if isinstance(parsed, dict) else {"_raw": call.arguments}
        content.append(
            {
                "type": "tool_use",
                "id": call.id or f"toolu_fake{number:06d}{index:02d}",
                "name": call.name,
                "input": dict(arguments),
            }
        )
    stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
    return {
        "id": f"msg_fake{number:06d}{uuid.uuid4().hex[:12]}",
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": _input_tokens(request, reply),
            "output_tokens": _output_tokens(reply),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _openai_completion(request: RecordedRequest, reply: Reply, number: int) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text if reply.text or not reply.tool_calls else None,
        "refusal": None,
    }
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id or f"call_fake{number:06d}{index:02d}",
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else json.dumps(dict(call.arguments)),
                },
            }
            for index, call in enumerate(reply.tool_calls)
        ]
    stop = reply.stop_reason or ("tool_use" if reply.tool_calls else "end_turn")
    prompt, completion = _input_tokens(request, reply), _output_tokens(reply)
    return {
        "id": f"chatcmpl-fake{number:06d}{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _FINISH.get(stop, stop),
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
        "system_fingerprint": "fp_fake",
    }


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_OPENAI_TYPES = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_MESSAGES = {
    400: "Invalid request (scripted by the fake model server)",
    401: "Invalid API key (scripted by the fake model server)",
    403: "Permission denied (scripted by the fake model server)",
    404: "Model not found (scripted by the fake model server)",
    429: "Rate limit exceeded (scripted by the fake model server)",
    529: "Overloaded (scripted by the fake model server)",
}


def _error_body(
    api: Api, status: int, message: str | None, error_type: str | None
) -> dict[str, Any]:
    text = message or _MESSAGES.get(status, f"Error {status} (scripted by the fake model server)")
    if api == "anthropic":
        kind = (
            error_type
            or _ANTHROPIC_TYPES.get(status)
            or ("api_error" if status >= 500 else "invalid_request_error")
        )
        return {
            "type": "error",
            "error": {"type": kind, "message": text},
            "request_id": f"req_fake{uuid.uuid4().hex[:16]}",
        }
    default_type, code = _OPENAI_TYPES.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {
        "error": {"message": text, "type": error_type or default_type, "param": None, "code": code}
    }


def item_from_json(data: Mapping[str, Any]) -> ScriptItem:
    """A script item from its JSON form (the control API's): {"type": "reply", ...}."""
    kind = data.get("type")
    if kind == "reply":
        calls = tuple(
            ToolCallReply(c["name"], c.get("arguments", {}), id=c.get("id"))
            for c in data.get("tool_calls", [])
        )
        return Reply(
            text=str(data.get("text", "")),
            tool_calls=calls,
            stop_reason=data.get("stop_reason"),
            input_tokens=data.get("input_tokens"),
            output_tokens=data.get("output_tokens"),
        )
    if kind == "tool_call":
        return ToolCallReply(
            str(data["name"]), data.get("arguments", {}), str(data.get("text", "")), data.get("id")
        )
    if kind == "error":
        return ErrorReply(
            status=int(data["status"]),
            message=data.get("message"),
            retry_after=data.get("retry_after"),
            retry_after_ms=data.get("retry_after_ms"),
            error_type=data.get("error_type"),
            body=data.get("body"),
            headers=dict(data.get("headers", {})),
        )
    if kind == "raw":
        return RawReply(
            body=data["body"],
            status=int(data.get("status", 200)),
            headers=dict(data.get("headers", {})),
        )
    if kind == "delay":
        return Delay(float(data["seconds"]))
    if kind == "disconnect":
        return Disconnect()
    raise ValueError(f"unknown script item type {kind!r}")


# --- As a process ----------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backbeat.testing.fake_models",
        description="A fake Anthropic + OpenAI model server for tests and benchmarks.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: any free port)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before every answer")
    parser.add_argument("--reply", default=None, help="answer this text (default: an echo)")
    parser.add_argument(
        "--record",
        type=int,
        default=1000,
        help="keep the last N requests for GET /_control/requests (0: none)",
    )
    args = parser.parse_args(argv)

    server = FakeModelServer(args.host, args.port, delay=args.delay, max_recorded=args.record)
    if args.reply is not None:
        server.always(Reply(args.reply))
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with server:
        print(server.url, flush=True)
        print(
            f"fake models: Anthropic at {server.url_anthropic}, OpenAI at {server.url_openai}",
            file=sys.stderr,
            flush=True,
        )
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
