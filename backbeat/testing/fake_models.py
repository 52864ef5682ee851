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

Rate limits, as the providers keep them (backbeat.testing.fake_model_limits): with
`FakeModelServer(limit=RateLimit(requests_per_minute=600, tokens_per_minute=100_000))`,
`server.rate_limit(...)`, `POST /_control/limits` with `{"requests_per_minute": 600,
"tokens_per_minute": null}` or `--requests-per-minute`/`--tokens-per-minute`, each API has
buckets that hold a minute's worth and refill continuously; a request over them gets a 429
with `retry-after`, and every answer carries the API's rate-limit headers. `GET
/_control/limits` (`server.limit_stats()`) says how many requests the limits refused
(`rate_limited`, also `server.rate_limited`) and let in (`admitted`), and the tokens counted.

For benchmarks, `FakeModelServer(max_recorded=0)` (`--record 0`) keeps no requests and
answers at once: the cost per call is one small JSON parse and one small JSON dump.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

# The public import path (tests and benchmarks import these from here); the parts live in
# fake_model_script (what a test scripts and what the server saw), fake_model_wire (the APIs'
# JSON shapes) and fake_model_server (the HTTP server).
from backbeat.testing.fake_model_limits import RateLimit
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
    http_date,
    item_from_json,
)
from backbeat.testing.fake_model_server import FakeModelServer

__all__ = [
    "Answer",
    "Api",
    "Delay",
    "Disconnect",
    "ErrorReply",
    "FakeModelServer",
    "RateLimit",
    "RawReply",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ScriptItem",
    "ToolCallReply",
    "echo",
    "http_date",
    "item_from_json",
    "main",
]


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
    parser.add_argument("--requests-per-minute", type=float, default=None, help="rate limit")
    parser.add_argument("--tokens-per-minute", type=float, default=None, help="rate limit")
    args = parser.parse_args(argv)

    limit = None
    if args.requests_per_minute is not None or args.tokens_per_minute is not None:
        limit = RateLimit(args.requests_per_minute, args.tokens_per_minute)
    server = FakeModelServer(
        args.host, args.port, delay=args.delay, max_recorded=args.record, limit=limit
    )
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
