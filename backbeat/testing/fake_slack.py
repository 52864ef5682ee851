"""A Slack incoming webhook on loopback, for tests: it checks each message the way Slack
documents it (a JSON object; `text` or `blocks`; at most 50 blocks; a header's text
plain_text of at most 150 characters; a section's text at most 3000; text objects of a known
type) and answers 200 "ok", or 400 "invalid_payload" / "invalid_blocks" like Slack. Lengths
are counted in UTF-16 units: never more lenient than Slack.

It can be told to answer something else for the next requests (`answer`), to hold them
without answering (`hang`, for timeouts) or to close the connection once it has read them
(`drop`). It records every request: path, payload, and the status it answered (None when it
answered nothing). Paths outside /services/ answer 404 "no_service".

    with FakeSlack() as slack:
        await poster.post(slack.url(), payload)
        assert slack.requests[0].status == 200
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal

MAX_BLOCKS = 50
HEADER_LIMIT = 150
TEXT_LIMIT = 3000  # a section's or a context element's text
FIELD_LIMIT = 2000  # each of a section's fields
DEFAULT_PATH = "/services/T000/B000/XXXX"

Action = Literal["answer", "hang", "drop"]


@dataclass(frozen=True)
class SlackRequest:
    path: str
    headers: dict[str, str]
    body: bytes
    payload: Any  # the parsed JSON, None when it was not JSON
    status: int | None  # what was answered; None: nothing (held or dropped)
    answer: str = ""


@dataclass
class _Scripted:
    action: Action
    times: int
    status: int = 200
    body: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)


class SlackRefusal(Exception):
    """What Slack would answer a payload with (`error`, its 400 body), and why."""

    def __init__(self, error: str, why: str) -> None:
        super().__init__(why)
        self.error = error


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _check_text(found: Any, where: str, limit: int, *, plain_only: bool = False) -> None:
    if not isinstance(found, dict) or found.get("type") not in ("plain_text", "mrkdwn"):
        raise SlackRefusal("invalid_blocks", f"{where}: not a text object")
    if plain_only and found["type"] != "plain_text":
        raise SlackRefusal("invalid_blocks", f"{where}: must be plain_text")
    text = found.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SlackRefusal("invalid_blocks", f"{where}: no text")
    if _units(text) > limit:
        raise SlackRefusal("invalid_blocks", f"{where}: longer than {limit} characters")
    if "emoji" in found and found["type"] != "plain_text":
        raise SlackRefusal("invalid_blocks", f"{where}: emoji is for plain_text only")
    if "verbatim" in found and found["type"] != "mrkdwn":
        raise SlackRefusal("invalid_blocks", f"{where}: verbatim is for mrkdwn only")


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict):
        raise SlackRefusal("invalid_blocks", f"{where}: not an object")
    kind = block.get("type")
    if kind == "header":
        _check_text(block.get("text"), f"{where}.text", HEADER_LIMIT, plain_only=True)
    elif kind == "section":
        if "text" not in block and "fields" not in block:
            raise SlackRefusal("invalid_blocks", f"{where}: a section needs text or fields")
        if "text" in block:
            _check_text(block["text"], f"{where}.text", TEXT_LIMIT)
        fields = block.get("fields", [])
        if not isinstance(fields, list) or len(fields) > 10:
            raise SlackRefusal("invalid_blocks", f"{where}.fields: at most 10")
        for index, each in enumerate(fields):
            _check_text(each, f"{where}.fields[{index}]", FIELD_LIMIT)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            raise SlackRefusal("invalid_blocks", f"{where}.elements: 1 to 10")
        for index, each in enumerate(elements):
            if not (isinstance(each, dict) and each.get("type") == "image"):
                _check_text(each, f"{where}.elements[{index}]", TEXT_LIMIT)
    elif kind != "divider":
        raise SlackRefusal("invalid_blocks", f"{where}: unknown block type {kind!r}")


def check_payload(payload: Any) -> None:
    """Raises SlackRefusal for a payload Slack would refuse."""
    if not isinstance(payload, dict):
        raise SlackRefusal("invalid_payload", "not a JSON object")
    text, blocks = payload.get("text"), payload.get("blocks")
    if text is not None and not isinstance(text, str):
        raise SlackRefusal("invalid_payload", "text is not a string")
    if not text and not blocks:
        raise SlackRefusal("invalid_payload", "neither text nor blocks")
    if blocks is None:
        return
    if not isinstance(blocks, list):
        raise SlackRefusal("invalid_blocks", "blocks is not a list")
    if len(blocks) > MAX_BLOCKS:
        raise SlackRefusal("invalid_blocks", f"{len(blocks)} blocks, more than {MAX_BLOCKS}")
    for index, block in enumerate(blocks):
        _check_block(block, f"blocks[{index}]")


class FakeSlack:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._script: list[_Scripted] = []
        self._requests: list[SlackRequest] = []
        self.reasons: list[str] = []  # why each refused payload was refused, in order
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> FakeSlack:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._released.set()  # held requests end (without an answer)
        self._server.shutdown()
        self._server.server_close()

    def url(self, path: str = DEFAULT_PATH) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def requests(self) -> list[SlackRequest]:
        with self._lock:
            return list(self._requests)

    def posted(self) -> list[Any]:
        """The payloads of the messages it took (answered 200)."""
        return [each.payload for each in self.requests if each.status == 200]

    def answer(
        self, status: int, body: str = "", *, times: int = 1, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next `times` requests so, whatever they hold."""
        self._push(_Scripted("answer", times, status, body, dict(headers or {})))

    def hang(self, *, times: int = 1) -> None:
        """Read the next `times` requests whole, then answer nothing until the fake stops."""
        self._push(_Scripted("hang", times))

    def drop(self, *, times: int = 1) -> None:
        """Read the next `times` requests whole, then close the connection without a word."""
        self._push(_Scripted("drop", times))

    def _push(self, scripted: _Scripted) -> None:
        with self._lock:
            self._script.append(scripted)

    def _next_scripted(self) -> _Scripted | None:
        with self._lock:
            if not self._script:
                return None
            scripted = self._script[0]
            scripted.times -= 1
            if scripted.times <= 0:
                self._script.pop(0)
            return scripted

    def _decide(self, path: str, payload: Any) -> tuple[int, str]:
        if not path.startswith("/services/"):
            return 404, "no_service"
        try:
            check_payload(payload)
        except SlackRefusal as exc:
            with self._lock:
                self.reasons.append(str(exc))
            return 400, exc.error
        return 200, "ok"

    def _record(self, request: SlackRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {key.lower(): value for key, value in self.headers.items()}
                try:
                    payload = json.loads(body)
                except ValueError:
                    payload = None
                scripted = fake._next_scripted()
                if scripted is not None and scripted.action != "answer":
                    fake._record(SlackRequest(self.path, headers, body, payload, None))
                    if scripted.action == "hang":
                        fake._released.wait()
                    self.close_connection = True
                    return
                if scripted is not None:
                    status, answer, extra = scripted.status, scripted.body, scripted.headers
                else:
                    (status, answer), extra = fake._decide(self.path, payload), {}
                fake._record(SlackRequest(self.path, headers, body, payload, status, answer))
                data = answer.encode()
                self.send_response(status)
                for name, value in extra.items():
                    self.send_header(name, value)
                self.send_header("content-type", "text/plain; charset=utf-8")
                self.send_header("content-length", str(len(data)))
                self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
