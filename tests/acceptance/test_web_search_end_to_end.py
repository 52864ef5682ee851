"""web_search end to end: `backbeat serve` configured with a search API (a local server that
speaks SearXNG's, Brave's and Tavily's APIs) offers the tool to the model, runs the search
the model asks for and hands the results back; without the setting the tool is not offered."""

from __future__ import annotations

from pathlib import Path

import pytest

from backbeat.testing.fake_models import FakeModelServer, Reply, ToolCallReply
from backbeat.testing.fake_search import FakeSearch, SearchHit
from tests.acceptance.conftest import serving
from tests.acceptance.test_end_to_end import (
    create_task,
    get_run,
    make_team,
    run_now,
    serve_env,
    wait_until_final,
)

pytestmark = pytest.mark.slow(seconds=20)

HIT = SearchHit("Nova Lights enters the synthpop top 10", "https://charts.example/nova", "No. 7")


def offered(request: object) -> list[str]:
    tools = getattr(request, "tools", [])
    return [tool.get("name") or tool.get("function", {}).get("name") for tool in tools]


@pytest.mark.parametrize("api", ["searxng", "tavily"])
def test_the_model_searches_through_the_configured_api(
    tmp_path: Path, models: FakeModelServer, api: str
) -> None:
    with FakeSearch(key="the-key", results=[HIT]) as search:
        env = serve_env(
            tmp_path,
            models,
            None,
            BACKBEAT_SEARCH_PROVIDER=api,
            BACKBEAT_SEARCH_URL=search.url(api),
            BACKBEAT_SEARCH_API_KEY="the-key",
        )
        team = make_team(env)
        models.script(
            ToolCallReply("web_search", {"query": "Nova Lights chart", "count": 3}).as_reply(),
            Reply("Nova Lights is at No. 7."),
        )
        with serving(env, tmp_path) as server:
            task = create_task(server, team, "0 9 * * 1", "How is Nova Lights charting?")
            run = run_now(server, team, task["id"])
            assert wait_until_final(server, team, run["id"])["status"] == "COMPLETED"
            output = get_run(server, team, run["id"])["output"]
        assert "the-key" not in server.stdout + server.stderr

    [asked] = search.requests
    assert asked.api == api
    first, second = models.requests
    assert "web_search" in offered(first)
    [call] = output["tool_calls"]
    assert call["name"] == "web_search"
    assert call["is_error"] is False
    assert "https://charts.example/nova" in call["result"]
    assert "https://charts.example/nova" in str(second.messages)  # the result went back
    assert output["text"] == "Nova Lights is at No. 7."


def test_without_a_search_api_the_tool_is_not_offered(
    tmp_path: Path, models: FakeModelServer
) -> None:
    env = serve_env(tmp_path, models, None)
    team = make_team(env)
    models.script(Reply("Done."))
    with serving(env, tmp_path) as server:
        task = create_task(server, team, "0 9 * * 1", "How is Nova Lights charting?")
        run = run_now(server, team, task["id"])
        assert wait_until_final(server, team, run["id"])["status"] == "COMPLETED"
    [request] = models.requests
    assert "web_search" not in offered(request)
    assert "fetch_web_page" in offered(request)
