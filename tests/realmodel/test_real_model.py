"""The real-model tier: `backbeat serve` (a real process, SQLite) against llama.cpp's
OpenAI-compatible server (llama-cpp-python) on SmolLM2-135M-Instruct, the setup from the
field: the compatible endpoint is the only provider and tasks carry no model, so the default
`anthropic/claude-sonnet-4.6` goes to the local server.

Two servers, as people run them:
- the plain one (the chat template in the GGUF): tools are offered and accepted, the model
  writes text. A task runs to COMPLETED; a prompt past the context window is a clear
  failure that is not retried.
- the function-calling one (`--chat_format chatml-function-calling`), where the tools reach
  the model only with `tool_choice` and a tool call's content must not be null: a task's
  tool loop (a tool call, its result sent back) is answered, never refused.

What the model writes is never asserted: only the structure of what Backbeat recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.acceptance.conftest import Server, serving
from tests.acceptance.test_end_to_end import Team, get_run, make_team, run_now
from tests.processes import clean_env
from tests.realmodel.conftest import LlamaServer, llama_server

pytestmark = [pytest.mark.realmodel, pytest.mark.slow(seconds=60)]

DEFAULT_MODEL = "anthropic/claude-sonnet-4.6"  # Settings.default_model
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "CANCELED", "INTERRUPTED"}
RUN_TIMEOUT = 240.0  # seconds: a 135M model on two shared cores, beside the rest of the suite
TOOLS = {"read_artist_profile", "read_previous_outputs", "fetch_web_page", "send_email"}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("realmodel")


@pytest.fixture(scope="module")
def plain(gguf: Path, workdir: Path) -> Iterator[LlamaServer]:
    """The GGUF's own chat template; 1024 tokens of context bound every answer's length."""
    with llama_server(gguf, workdir, n_ctx=1024) as server:
        yield server


@pytest.fixture(scope="module")
def calling(gguf: Path, workdir: Path) -> Iterator[LlamaServer]:
    """llama-cpp-python's function calling (the tools in the prompt, a grammar for calls)."""
    with llama_server(gguf, workdir, n_ctx=4096, chat_format="chatml-function-calling") as server:
        yield server


def backbeat_env(directory: Path, llama: LlamaServer, **extra: str) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    return clean_env(
        BACKBEAT_DATABASE_URL=f"sqlite:///{directory / 'backbeat.db'}",
        BACKBEAT_COMPATIBLE_BASE_URL=llama.url,  # the only provider
        BACKBEAT_WORKER_POLL_SECONDS="0.2",
        BACKBEAT_LOG_FORMAT="json",
        **extra,
    )


def run_task(
    server: Server, team: Team, prompt: str, tools: list[str] | None = None
) -> dict[str, Any]:
    """A task without a model (and with these tools, when given), run now; the run once it
    ended."""
    body: dict[str, Any] = {
        "title": "Weekly pulse",
        "prompt": prompt,
        "schedule": "0 9 * * 1",
        "artist_account_id": team.artist_id,
    }
    if tools is not None:
        body["tools"] = tools
    response = httpx.post(f"{server.url}/api/tasks", headers=team.headers, json=body, timeout=10.0)
    assert response.status_code == 200, response.text
    [task] = response.json()["tasks"]
    assert not task.get("model"), task
    run_id = run_now(server, team, task["id"])["id"]
    deadline = time.monotonic() + RUN_TIMEOUT
    run = get_run(server, team, run_id)
    while run["status"] not in TERMINAL:
        if time.monotonic() > deadline:
            raise AssertionError(f"run still {run['status']} after {RUN_TIMEOUT:.0f} s: {run}")
        time.sleep(0.5)
        run = get_run(server, team, run_id)
    return run


def explain(run: dict[str, Any], server: Server, llama: LlamaServer) -> str:
    """What a failed assertion shows: the run, and the ends of both servers' output."""
    return f"{json.dumps(run, indent=1)[:6000]}\n{server.output()[-3000:]}\n{llama.log()}"


def log_events(server: Server) -> list[dict[str, Any]]:
    events = []
    for line in server.stderr.splitlines():
        try:
            found = json.loads(line)
        except ValueError:
            continue
        if isinstance(found, dict):
            events.append(found)
    return events


# --- The plain server ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain_backbeat(plain: LlamaServer, workdir: Path) -> Iterator[tuple[Server, Team]]:
    env = backbeat_env(workdir / "plain", plain)
    team = make_team(env, organization=False)
    with serving(env, workdir / "plain") as server:
        yield server, team


def test_a_task_without_a_model_completes_on_the_local_server(
    plain: LlamaServer, plain_backbeat: tuple[Server, Team]
) -> None:
    server, team = plain_backbeat
    run = run_task(server, team, "Write a two-sentence weekly update for the team.")

    assert run["status"] == "COMPLETED", explain(run, server, plain)
    assert run["attemptCount"] == 1
    [attempt] = run["attempts"]
    assert attempt["status"] == "COMPLETED"
    output = run["output"]
    assert isinstance(output["text"], str)
    assert output["text"].strip(), output
    usage = output["usage"]
    assert usage["requests"] >= 1
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    # Recorded as what it is: the compatible endpoint, the model the server said answered
    # (llama-cpp-python repeats the name it was asked for), and no price.
    assert output["provider"] == "compatible"
    assert output["provider_model"] == DEFAULT_MODEL
    assert output["price_known"] is False
    # serve said so when it started: the default model names Anthropic, goes elsewhere.
    warnings = [e for e in log_events(server) if e.get("event") == "config.default_model_rerouted"]
    assert [w["level"] for w in warnings] == ["warning"], server.output()


def test_a_prompt_past_the_context_window_fails_once_and_clearly(
    plain: LlamaServer, plain_backbeat: tuple[Server, Team]
) -> None:
    server, team = plain_backbeat
    prompt = "List every stream, save and share of the week. " * 150  # > 1024 tokens

    run = run_task(server, team, prompt)

    assert run["status"] == "FAILED", explain(run, server, plain)
    assert run["attemptCount"] == 1  # not retried: the same prompt would fail again
    error = run["error"]
    assert error["kind"] == "bad_request", error
    assert "context" in error["message"], error  # the server's reason, passed on
    assert "(400)" in error["message"], error
    assert plain.alive()


# --- The function-calling server -------------------------------------------------------------


def test_the_tool_loop_is_answered_by_the_function_calling_server(
    calling: LlamaServer, workdir: Path
) -> None:
    # Two model turns at most: the tool call, then the answer to its result.
    env = backbeat_env(workdir / "calling", calling, BACKBEAT_MAX_TURNS="2")
    team = make_team(env, organization=False)
    with serving(env, workdir / "calling") as server:
        # Only that tool: llama.cpp's grammar for fetch_web_page's 2,048-character `url`
        # overflows its parser and the server crashes (an upstream bug), should the model
        # pick that tool on its second turn; the tool loop is what this test is about.
        prompt = "Read the artist profile with read_artist_profile."
        run = run_task(server, team, prompt, tools=["read_artist_profile"])

    detail = explain(run, server, calling)
    assert run["attemptCount"] == 1, detail
    output = run["output"]
    assert output is not None, detail
    # The tools reached the model: it called one of them, and Backbeat ran it.
    calls = output["tool_calls"]
    assert calls, detail
    assert calls[0]["name"] in TOOLS
    assert not calls[0]["is_error"], calls
    # The result went back in a second request, which the server answered: a run that ends
    # with the model's text, or at the turn limit, never on a refused or failed request.
    assert output["usage"]["requests"] == 2, detail
    if run["status"] == "FAILED":
        assert run["error"]["kind"] == "turn_limit", detail
    else:
        assert run["status"] == "COMPLETED", detail
    assert calling.alive()
