"""What the fake model server sends on the wire: a Reply as Anthropic's message or OpenAI's
chat completion, and an error in either API's own error shape, with the real JSON shapes
(ids, usage, stop_reason / finish_reason) so that the real SDKs parse them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from backbeat.testing.fake_model_script import Api, RecordedRequest, Reply


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


def usage_of(request: RecordedRequest, reply: Reply) -> tuple[int, int]:
    """The (input, output) tokens the answer to `request` reports."""
    return _input_tokens(request, reply), _output_tokens(reply)


def anthropic_message(request: RecordedRequest, reply: Reply, number: int) -> dict[str, Any]:
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
        "model": reply.model or request.model,
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


def openai_completion(request: RecordedRequest, reply: Reply, number: int) -> dict[str, Any]:
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
        "model": reply.model or request.model,
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


def error_body(
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
