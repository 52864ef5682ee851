"""Tools from MCP servers, without a server (testing.fake_mcp): the names the model sees, the
schemas offered, the output cap, and what each failure becomes (a tool error the model sees,
or an attempt failure of the right kind). The registration rules too (domain.mcp_servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest

from backbeat.agents.tools.base import ToolError
from backbeat.agents.tools.mcp_tools import (
    FUNCTION_NAME,
    McpFailure,
    McpTool,
    McpToolbox,
    RemoteResult,
    RemoteTool,
    capped,
    offered_name,
    recorded_names,
)
from backbeat.domain.errors import InvalidInput
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.mcp_servers import (
    McpServer,
    checked_command,
    checked_name,
    checked_url,
    parsed_headers,
)
from backbeat.testing.fake_mcp import FakeMcpClient

ACCOUNT = uuid4()
SCHEMA = {"properties": {"genre": {"type": "string"}}, "required": ["genre"]}


def server(name: str = "charts", organizations: tuple[UUID, ...] | None = None) -> McpServer:
    return McpServer(name, "https://charts.example/mcp", None, (), organizations, datetime.now(UTC))


def toolbox(
    client: FakeMcpClient, servers: Mapping[str, McpServer] | None = None, cap: int = 1_000
) -> McpToolbox:
    registered = {"charts": server()} if servers is None else servers

    async def lookup(
        account_id: UUID, names: list[str], scope: tuple[UUID, ...] | None
    ) -> Mapping[str, McpServer]:
        assert account_id == ACCOUNT
        return {name: registered[name] for name in names if name in registered}

    return McpToolbox(client, lookup, max_output_chars=cap)


def charts_client() -> FakeMcpClient:
    return FakeMcpClient(
        {
            "charts": [
                RemoteTool("top_songs", "This week's top songs.", SCHEMA),
                RemoteTool("artist.streams", "", {"type": "object"}),
            ]
        }
    )


def tools(box: McpToolbox, *names: str) -> dict[str, McpTool]:
    return asyncio.run(box.tools(ACCOUNT, list(names)))


def failure(box: McpToolbox, *names: str) -> AttemptFailed:
    with pytest.raises(AttemptFailed) as raised:
        tools(box, *names)
    return raised.value


def call(tool: McpTool, arguments: Any) -> str:
    context: Any = None  # an MCP tool reads nothing of the run's context
    return asyncio.run(tool(context, arguments))


def test_offered_names_are_valid_function_names_and_stable() -> None:
    assert offered_name("charts", "top_songs") == "charts__top_songs"
    dotted = offered_name("charts", "artist.streams")
    assert FUNCTION_NAME.match(dotted)
    assert dotted.startswith("charts__artist_streams_")
    assert dotted != offered_name("charts", "artist_streams")  # no collision with the plain
    assert dotted == offered_name("charts", "artist.streams")
    longest = offered_name("s" * 40, "t" * 64)
    assert FUNCTION_NAME.match(longest)
    assert longest != offered_name("s" * 40, "t" * 63 + "u")


def test_the_model_is_offered_each_tool_with_its_servers_schema() -> None:
    client = charts_client()
    found = tools(toolbox(client), "charts/top_songs", "charts/artist.streams")
    top = found["charts/top_songs"]
    assert top.spec.name == "charts__top_songs"
    assert top.spec.description == "This week's top songs. (from the MCP server charts)"
    assert top.spec.parameters == {**SCHEMA, "type": "object"}
    streams = found["charts/artist.streams"]
    assert streams.real_name == "charts/artist.streams"
    assert FUNCTION_NAME.match(streams.spec.name)
    assert "artist.streams" in streams.spec.description  # a description when it has none
    assert [each.name for each in client.listed] == ["charts"]  # once per server


def test_a_call_goes_to_its_server_and_its_answer_is_capped() -> None:
    client = charts_client()
    client.answers["charts/top_songs"] = RemoteResult("1. Neon Tide\n" + "x" * 5_000)
    [top] = tools(toolbox(client, cap=100), "charts/top_songs").values()
    answer = call(top, {"genre": "synthpop"})
    assert client.calls == [("charts", "top_songs", {"genre": "synthpop"})]
    assert answer.startswith("1. Neon Tide\nxxx")
    assert len(answer.split("\n[...")[0]) == 100
    assert answer.endswith("[... the output was cut at 100 of 5,013 characters]")
    assert capped("short", 100) == "short"


def test_failures_during_a_run_are_tool_errors_the_model_sees() -> None:
    client = charts_client()
    [top] = tools(toolbox(client), "charts/top_songs").values()

    client.answers["charts/top_songs"] = RemoteResult("no chart for 'polka'", is_error=True)
    with pytest.raises(ToolError, match="no chart for 'polka'"):
        call(top, {"genre": "polka"})
    client.answers["charts/top_songs"] = RemoteResult("", is_error=True)
    with pytest.raises(ToolError, match="charts/top_songs failed without saying why"):
        call(top, {})
    client.answers["charts/top_songs"] = McpFailure("did not answer in time", reachable=False)
    with pytest.raises(ToolError, match="did not answer in time"):
        call(top, {})
    client.down.add("charts")
    with pytest.raises(ToolError, match="is down"):
        call(top, {})
    with pytest.raises(ToolError, match="must be a JSON object"):
        call(top, ["genre"])


def test_a_server_that_cannot_be_reached_at_the_start_is_a_retryable_failure() -> None:
    client = charts_client()
    client.down.add("charts")
    failed = failure(toolbox(client), "charts/top_songs")
    assert failed.kind is FailureKind.NETWORK
    assert failed.kind.retryable
    assert failed.name == "McpServerUnavailable"
    assert failed.message == (
        "the MCP server 'charts' is down; the run needs its tools (charts/top_songs)"
    )


def test_a_listing_the_server_refused_is_not_retried() -> None:
    client = charts_client()
    refused = McpFailure("the server answered: Method not found", reachable=True)

    async def refusing(server: McpServer) -> list[RemoteTool]:
        raise refused

    client.list_tools = refusing  # type: ignore[method-assign]
    failed = failure(toolbox(client), "charts/top_songs")
    assert failed.kind is FailureKind.TOOL
    assert not failed.kind.retryable


def test_a_tool_the_server_does_not_have_fails_the_run_clearly() -> None:
    failed = failure(toolbox(charts_client()), "charts/top_songs", "charts/top_albums")
    assert failed.kind is FailureKind.TOOL
    assert failed.name == "ToolUnavailable"
    assert failed.message == (
        "the MCP server 'charts' has no tool 'top_albums' (it has artist.streams, top_songs)"
    )


def test_a_server_no_longer_registered_or_open_is_the_workers_setup() -> None:
    failed = failure(toolbox(charts_client(), servers={}), "charts/top_songs")
    assert failed.kind is FailureKind.CONFIGURATION
    assert failed.name == "ToolUnavailable"
    assert "no MCP server named 'charts' is registered that the task's owner may use" in (
        failed.message
    )


def test_recorded_calls_carry_the_real_names() -> None:
    found = tools(toolbox(charts_client()), "charts/artist.streams")
    offered = found["charts/artist.streams"].spec.name
    calls = [{"name": offered}, {"name": "read_artist_profile"}, {"name": "nonesuch"}]
    recorded_names(calls, list(found.values()))
    assert [each["name"] for each in calls] == [
        "charts/artist.streams",
        "read_artist_profile",
        "nonesuch",
    ]


def test_open_to_every_account_or_to_members_of_its_organizations() -> None:
    ours, theirs = uuid4(), uuid4()
    assert server().open_to([])
    restricted = server(organizations=(ours,))
    assert restricted.open_to([theirs, ours])
    assert not restricted.open_to([theirs])
    assert not restricted.open_to([])


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["Authorization Bearer x"], "a header is given as 'Name: value'"),
        (["Bad Name: x"], "a header is given as 'Name: value'"),
        (["X-Key:"], "the value of X-Key is empty"),
        (["Content-Type: text/plain"], "the MCP client sets Content-Type itself"),
        (["X-Key: a", "x-key: b"], "the header x-key is given twice"),
        (["X-Key: secret\x0bvalue"], "not a header value"),  # h11 would quote it in an error
        (["X-Key: sécret"], "not a header value"),
        ([f"X-{n}: v" for n in range(21)], "at most 20 headers"),
    ],
)
def test_headers_are_refused_clearly(given: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parsed_headers(given)


def test_registration_rules() -> None:
    assert parsed_headers(["Authorization:  Bearer a:b "]) == (("Authorization", "Bearer a:b"),)
    assert checked_name("charts_2-eu") == "charts_2-eu"
    for bad in ("", "a/b", "a b", "x" * 41, "ünïcode", "a__b"):  # a__b/c would be a/b__c
        with pytest.raises(InvalidInput, match="1 to 40 letters"):
            checked_name(bad)
    assert checked_url(" https://mcp.example/v1 ") == "https://mcp.example/v1"
    assert checked_url("http://10.0.0.5:8080/mcp") == "http://10.0.0.5:8080/mcp"  # operator's
    for bad in ("ftp://mcp.example", "mcp.example/mcp", "http:///mcp"):
        with pytest.raises(InvalidInput, match="http:// or https://"):
            checked_url(bad)
    with pytest.raises(InvalidInput, match="must not carry credentials"):
        checked_url("https://user:token@mcp.example/mcp")
    assert checked_command(" npx -y @acme/mcp ") == "npx -y @acme/mcp"
    with pytest.raises(InvalidInput, match="empty"):
        checked_command("   ")
    with pytest.raises(InvalidInput, match="cannot read the command"):
        checked_command("python 'unclosed")
