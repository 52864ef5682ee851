"""The fake model server's vocabulary: the answers a test scripts (replies, tool calls, errors,
raw bodies, delays, disconnects), the requests the server records, the default answer (an echo)
and the script items' JSON form on the control API. See backbeat.testing.fake_models.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

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
    (characters / 4). `model` is the model the answer says it came from (default: the one
    asked for), as a gateway or a local server may name another.
    """

    text: str = ""
    tool_calls: tuple[ToolCallReply, ...] = ()
    stop_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    model: str | None = None


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


# --- The control API's JSON form ------------------------------------------------------------


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
            model=data.get("model"),
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
