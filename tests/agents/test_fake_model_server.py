"""The fake model server's scripting (per model, responder functions) and its life as a
separate process, through the real OpenAIProvider."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import timedelta

import pytest

from backbeat.agents.base import ModelReply
from backbeat.agents.openai import OpenAIProvider
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.testing.fake_models import Delay, ErrorReply, FakeModelServer, Reply
from tests.agents.providers import OPENAI, Api, complete_with, request


@pytest.fixture
def api() -> Iterator[Api]:
    with FakeModelServer() as server:
        yield Api(OPENAI, server)


def test_scripts_per_model_serve_concurrent_callers(api: Api) -> None:
    server = api.server
    server.script(ErrorReply(429, retry_after=1), model="model-a")
    server.script(Delay(0.2), Reply("b answers"), model="model-b")
    server.script(Reply("shared"))
    server.always(Reply("a, from then on"), model="model-a")

    async def run() -> tuple[ModelReply | BaseException, ModelReply | BaseException]:
        provider = OpenAIProvider(OPENAI.key, base_url=server.url_openai)
        try:
            return await asyncio.gather(
                provider.complete(api.request(model="model-a")),
                provider.complete(api.request(model="model-b")),
                return_exceptions=True,
            )
        finally:
            await provider.aclose()

    a, b = asyncio.run(run())
    assert isinstance(a, AttemptFailed)
    assert a.kind is FailureKind.RATE_LIMITED
    assert isinstance(b, ModelReply)
    assert b.text == "b answers"
    assert server.pending == 1  # "shared" is left for any model

    replies = api.complete(
        api.request(model="model-a"), api.request(model="model-a"), api.request()
    )
    assert [r.text for r in replies] == [
        "shared",
        "a, from then on",
        "Report: How did the release do?",
    ]
    assert [r.model for r in server.requests_for("model-a")] == ["model-a"] * 3

    server.reset()
    assert server.requests == []
    assert server.pending == 0


def test_a_responder_function_sees_the_request(api: Api) -> None:
    api.server.always(lambda seen: Reply(f"{len(seen.messages)} messages, {seen.system}"))
    [reply] = api.complete(api.request(system="be brief"))
    assert reply.text == "2 messages, be brief"


def test_the_fake_server_as_a_process() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "backbeat.testing.fake_models", "--port", "0", "--reply", "pong"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")

        script = {"items": [{"type": "error", "status": 429, "retry_after": 2}]}
        control = urllib.request.Request(
            f"{url}/_control/script",
            data=json.dumps(script).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(control, timeout=5) as answer:
            assert json.load(answer) == {"ok": True, "pending": 1}

        with pytest.raises(AttemptFailed) as caught:
            complete_with(OPENAI.build(f"{url}/v1"), request(OPENAI))
        assert caught.value.kind is FailureKind.RATE_LIMITED
        assert caught.value.retry_after == timedelta(seconds=2)
        [reply] = complete_with(OPENAI.build(f"{url}/v1"), request(OPENAI))
        assert reply.text == "pong"

        with urllib.request.urlopen(f"{url}/_control/requests", timeout=5) as answer:
            seen = json.load(answer)
        assert [r["body"]["model"] for r in seen] == [OPENAI.model, OPENAI.model]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
