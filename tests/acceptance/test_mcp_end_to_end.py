"""Tools from MCP servers end to end: an operator registers a real MCP server (built with the
official SDK: backbeat.testing.mcp_charts) with `backbeat mcp-servers add`, over Streamable
HTTP (a secret Authorization header) or stdio; a task lists `charts/top_songs`; `backbeat
serve` offers it to the model as `charts__top_songs`, calls the server when the model asks,
hands the answer back and records the call as `charts/top_songs`. The secret never shows in
the server's output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from backbeat.testing.fake_models import FakeModelServer, Reply, ToolCallReply
from backbeat.testing.mcp_charts import ChartsServer, stdio_command
from tests.acceptance.conftest import Server, cli_json, serving
from tests.acceptance.test_end_to_end import (
    Team,
    get_run,
    make_team,
    run_now,
    serve_env,
    wait_until_final,
)
from tests.acceptance.test_web_search_end_to_end import offered

pytestmark = pytest.mark.slow(seconds=30)

TOKEN = "mcp-e2e-secret-5d2b8e71"


def create_task(server: Server, team: Team, tools: list[str]) -> dict[str, Any]:
    response = httpx.post(
        f"{server.url}/api/tasks",
        headers=team.headers,
        json={
            "title": "Weekly pulse",
            "prompt": "How is Nova Lights charting?",
            "schedule": "0 9 * * 1",
            "artist_account_id": team.artist_id,
            "tools": tools,
        },
        timeout=10.0,
    )
    assert response.status_code == 200, response.text
    [task] = response.json()["tasks"]
    assert task["tools"] == tools
    return dict(task)


@pytest.mark.parametrize("transport", ["http", "stdio"])
def test_a_task_uses_a_tool_of_a_registered_mcp_server(
    tmp_path: Path, models: FakeModelServer, transport: str
) -> None:
    with ChartsServer(token=TOKEN) as charts:
        env = serve_env(tmp_path, models, None)
        team = make_team(env, organization=False)
        where = (
            ["--url", charts.url, "--header", f"Authorization: Bearer {TOKEN}"]
            if transport == "http"
            else ["--command", stdio_command()]
        )
        added = cli_json(env, "mcp-servers", "add", "charts", *where)
        assert added["transport"] == transport
        models.script(
            ToolCallReply("charts__top_songs", {"genre": "synthpop", "count": 1}).as_reply(),
            Reply("Nova Lights leads the synthpop chart."),
        )
        with serving(env, tmp_path) as server:
            task = create_task(server, team, ["charts/top_songs", "read_artist_profile"])
            run = run_now(server, team, task["id"])
            final = wait_until_final(server, team, run["id"])
            assert final["status"] == "COMPLETED", final
            output = get_run(server, team, run["id"])["output"]
        assert TOKEN not in server.stdout + server.stderr
        listed = cli_json(env, "mcp-servers", "list")
        assert TOKEN not in str(listed)

    first, second = models.requests
    assert offered(first) == ["charts__top_songs", "read_artist_profile"]
    [schema] = [tool["input_schema"] for tool in first.tools if tool["name"] == "charts__top_songs"]
    assert schema["required"] == ["genre"]
    [call] = output["tool_calls"]
    assert call["name"] == "charts/top_songs"
    assert call["is_error"] is False
    assert call["result"] == "1. Nova Lights - Neon Tide"
    assert "Nova Lights - Neon Tide" in str(second.messages)  # the answer reached the model
    assert output["text"] == "Nova Lights leads the synthpop chart."
    if transport == "http":
        assert "tools/call" in charts.methods
        assert all(seen["authorization"] == f"Bearer {TOKEN}" for seen in charts.headers)
    else:
        assert charts.methods == []  # the worker ran its own process
