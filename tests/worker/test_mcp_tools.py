"""Tools from MCP servers in a worker's runs, against real MCP servers built with the official
SDK (backbeat.testing.mcp_charts), over Streamable HTTP and stdio: the task lists
`charts/tool`, the model is offered `charts__tool` with the server's schema, its call goes to
the server, the answer reaches the model, and the run records the call as `charts/tool`.
A server that is down at the start fails the attempt as retryable; one that is slow during
the run is an error the model sees; output is capped; a secret header never shows."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from typing import Any
from uuid import UUID, uuid4

import pytest

from backbeat.agents.base import ToolResultsMessage
from backbeat.agents.tools.mcp_client import SdkMcpClient
from backbeat.agents.tools.mcp_tools import McpToolbox
from backbeat.domain.mcp_servers import McpServer
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus
from backbeat.ops import logs
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply, tool_call
from backbeat.testing.mcp_charts import ChartsServer, stdio_command
from backbeat.wiring import Backbeat, build_worker
from tests.conftest import Tenant
from tests.worker.harness import Harness, make_harness, run

pytestmark = pytest.mark.slow(seconds=20)

TOKEN = "mcp-secret-token-7f3a9c"


def mcp_harness(
    backbeat: Backbeat, clock: FakeClock, provider: ScriptedProvider, **mcp: Any
) -> Harness:
    """A worker (tests.worker.harness's, with the Worker's own concurrency and grace) with
    tools from MCP servers."""

    async def servers(
        account_id: UUID, names: list[str], scope: tuple[UUID, ...] | None
    ) -> Mapping[str, McpServer]:
        return await asyncio.to_thread(backbeat.mcp_servers.usable, account_id, names, scope)

    toolbox = McpToolbox(
        SdkMcpClient(timeout_seconds=mcp.get("timeout", 10.0), connect_timeout_seconds=10.0),
        servers,
        max_output_chars=mcp.get("cap", 20_000),
    )
    return make_harness(backbeat, clock, provider, concurrency=10, grace=30.0, mcp=toolbox)


def finished(h: Harness, tenant: Tenant, task: UUID) -> Run:
    queued = h.run_now(tenant, task)
    assert run(h.work()) == 1
    return h.get(queued.id)


def results_sent(provider: ScriptedProvider) -> list[Any]:
    """The tool results the model was sent, in order (the last request holds them all)."""
    return [
        result
        for message in provider.requests[-1].messages
        if isinstance(message, ToolResultsMessage)
        for result in message.results
    ]


@pytest.fixture
def charts() -> Iterator[ChartsServer]:
    with ChartsServer(token=TOKEN) as server:
        yield server


@pytest.fixture(params=["http", "stdio"])
def registered(request: pytest.FixtureRequest, backbeat: Backbeat) -> str:
    """The charts server, registered as an operator would, over one transport."""
    if request.param == "stdio":
        backbeat.mcp_servers.add("charts", command=stdio_command())
    else:
        charts: ChartsServer = request.getfixturevalue("charts")
        backbeat.mcp_servers.add(
            "charts", url=charts.url, headers=[f"Authorization: Bearer {TOKEN}"]
        )
    return str(request.param)


def test_a_tool_of_the_server_reaches_the_model_and_is_recorded(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, registered: str
) -> None:
    provider = ScriptedProvider(
        tool_call("charts__top_songs", {"genre": "synthpop", "count": 2}),
        reply("Nova Lights leads the synthpop chart."),
    )
    h = mcp_harness(backbeat, clock, provider)
    task = h.new_task(alice, tools=["read_artist_profile", "charts/top_songs"])
    done = finished(h, alice, task)

    assert done.status is RunStatus.COMPLETED, done.error
    first = provider.requests[0]
    assert [spec.name for spec in first.tools] == ["read_artist_profile", "charts__top_songs"]
    offered = first.tools[1]
    assert offered.parameters["properties"]["genre"]["type"] == "string"
    assert offered.parameters["required"] == ["genre"]
    assert "top songs of a genre" in offered.description
    [result] = results_sent(provider)
    assert not result.is_error
    assert result.content == "1. Nova Lights - Neon Tide\n2. Glass Arcade - Static Hearts"
    assert done.output is not None
    [call] = done.output["tool_calls"]
    assert call["name"] == "charts/top_songs"  # the real name, as the task lists it
    assert call["arguments"] == {"genre": "synthpop", "count": 2}
    assert call["is_error"] is False
    assert "Neon Tide" in call["result"]
    assert TOKEN not in str(done.output)


def test_a_slow_server_is_an_error_the_model_sees(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, registered: str
) -> None:
    provider = ScriptedProvider(tool_call("charts__hang", {}), reply("The charts were slow."))
    h = mcp_harness(backbeat, clock, provider, timeout=0.5)
    task = h.new_task(alice, tools=["charts/hang"])
    done = finished(h, alice, task)

    assert done.status is RunStatus.COMPLETED  # the model carried on without it
    [result] = results_sent(provider)
    assert result.is_error
    assert "the MCP server 'charts' did not answer within 0.5 s" in result.content
    assert done.output is not None
    [call] = done.output["tool_calls"]
    assert call["name"] == "charts/hang"
    assert call["is_error"] is True


def test_a_failing_tool_and_a_long_answer(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, registered: str
) -> None:
    provider = ScriptedProvider(
        tool_call("charts__broken", {}, "call_1"),
        tool_call("charts__big", {"size": 5_000}, "call_2"),
        reply("Done."),
    )
    h = mcp_harness(backbeat, clock, provider, cap=1_000)
    task = h.new_task(alice, tools=["charts/broken", "charts/big"])
    assert finished(h, alice, task).status is RunStatus.COMPLETED

    broken, big = results_sent(provider)
    assert broken.is_error
    assert broken.content == "error: Error executing tool broken: the charts database is down"
    assert not big.is_error
    assert big.content.startswith("x" * 1_000 + "\n[... the output was cut at 1,000 of 5,000")


def test_a_server_down_at_the_start_fails_the_attempt_as_retryable(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, charts: ChartsServer
) -> None:
    backbeat.mcp_servers.add("charts", url=charts.url, headers=[f"Authorization: Bearer {TOKEN}"])
    charts.stop()
    provider = ScriptedProvider()
    h = mcp_harness(backbeat, clock, provider)
    task = h.new_task(alice, tools=["charts/top_songs"])
    waiting = finished(h, alice, task)

    assert waiting.status is RunStatus.REATTEMPTING
    [attempt] = waiting.attempts
    assert attempt.error is not None
    assert attempt.error["name"] == "McpServerUnavailable"
    message = attempt.error["message"]
    assert message.startswith("the MCP server 'charts' could not be reached: ")
    assert message.endswith("; the run needs its tools (charts/top_songs)")
    assert TOKEN not in str(attempt.error)
    assert provider.requests == []  # the model was not called


def test_a_tool_the_server_lacks_fails_the_run_without_retrying(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, registered: str
) -> None:
    provider = ScriptedProvider()
    h = mcp_harness(backbeat, clock, provider)
    task = h.new_task(alice, tools=["charts/top_albums"])
    done = finished(h, alice, task)

    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert done.error["name"] == "ToolUnavailable"
    assert "the MCP server 'charts' has no tool 'top_albums'" in done.error["message"]
    assert done.attempt_count == 1
    assert provider.requests == []


def test_a_server_removed_after_the_task_was_saved(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    backbeat.mcp_servers.add("charts", command=stdio_command())
    provider = ScriptedProvider()
    h = mcp_harness(backbeat, clock, provider)
    task = h.new_task(alice, tools=["charts/top_songs"])
    backbeat.mcp_servers.remove("charts")
    done = finished(h, alice, task)

    assert done.status is RunStatus.SYSTEM_FAILURE
    assert done.error is not None
    assert done.error["name"] == "ToolUnavailable"
    assert "no MCP server named 'charts' is registered" in done.error["message"]


def test_without_an_mcp_client_the_worker_says_so(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant
) -> None:
    backbeat.mcp_servers.add("charts", command=stdio_command())
    h = make_harness(backbeat, clock, ScriptedProvider())
    task = h.new_task(alice, tools=["charts/top_songs"])
    done = finished(h, alice, task)
    assert done.status is RunStatus.SYSTEM_FAILURE
    assert done.error is not None
    assert "this worker has no MCP client" in done.error["message"]


def test_the_wired_worker_masks_header_values_in_its_logs(
    backbeat: Backbeat, alice: Tenant
) -> None:
    # A value of no known shape (a bearer token is masked by its shape alone), new to the
    # process-wide redactor.
    secret = f"label-key-{uuid4().hex}"
    backbeat.mcp_servers.add(
        "charts", url="https://charts.example/mcp", headers=[f"X-Api-Key: {secret}"]
    )
    worker = build_worker(backbeat)
    line = f"a line with {secret} in it"
    assert secret in logs.REDACT(line)  # not yet: no run has needed the server
    toolbox = worker._executor._mcp  # the toolbox build_worker wired
    assert toolbox is not None

    async def lookup() -> Mapping[str, McpServer]:
        assert toolbox is not None
        return await toolbox._servers(alice.account_id, ["charts", "other"], None)

    found = asyncio.run(lookup())
    assert list(found) == ["charts"]
    assert dict(found["charts"].headers) == {"X-Api-Key": secret}
    assert logs.REDACT(line) == "a line with *** in it"
