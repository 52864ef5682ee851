"""web_search against a local server that speaks each provider's API (SearXNG, Brave,
Tavily): results as title, URL and snippet, capped; every failure a ToolError the model sees."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from backbeat.agents.tools.base import ToolError
from backbeat.agents.tools.search import (
    MAX_ANSWER_BYTES,
    MAX_SNIPPET_CHARS,
    HttpSearcher,
    SearchProvider,
    searcher_from_settings,
    web_search_tool,
)
from backbeat.config import ConfigurationError, Settings
from backbeat.testing.fake_search import FakeSearch, SearchHit
from tests.tools.helpers import make_context

PROVIDERS: list[SearchProvider] = ["searxng", "brave", "tavily"]


@pytest.fixture
def search() -> Iterator[FakeSearch]:
    with FakeSearch(key="the-key") as fake:
        yield fake


def searcher(search: FakeSearch, api: SearchProvider, **options: Any) -> HttpSearcher:
    values: dict[str, Any] = {"api_key": "the-key", "timeout_seconds": 5.0}
    values.update(options)
    return HttpSearcher(api, base_url=search.url(api), **values)


def call(found: HttpSearcher, arguments: dict[str, Any]) -> str:
    return asyncio.run(web_search_tool(found)(make_context(), arguments))


@pytest.mark.parametrize("api", PROVIDERS)
def test_results_come_back_as_title_url_and_snippet(
    search: FakeSearch, api: SearchProvider
) -> None:
    search.results = [
        SearchHit(
            "Nova Lights &amp; the <strong>synthpop</strong> chart", "https://a.example/1", "First"
        ),
        SearchHit("Second", "https://a.example/2", "x" * 2_000),
        SearchHit("No scheme", "javascript:alert(1)", "dropped"),
        SearchHit("Third", "https://a.example/3", "Third <b>snippet</b>"),
    ]
    text = call(searcher(search, api), {"query": "  synthpop   charts ", "count": 2})
    assert "2 result(s) for 'synthpop charts'" in text
    assert "1. Nova Lights & the synthpop chart\n   https://a.example/1\n   First" in text
    assert "https://a.example/2" in text
    assert "a.example/3" not in text  # capped at the count asked for
    assert "javascript:" not in text
    assert "x" * MAX_SNIPPET_CHARS not in text  # snippets are capped
    [asked] = search.requests
    assert asked.api == api
    if api == "tavily":
        assert asked.method == "POST"
        assert asked.body["query"] == "synthpop charts"
        assert asked.body["max_results"] == 2
    else:
        assert asked.query["q"] == "synthpop charts"
    if api == "searxng":
        assert asked.query["format"] == "json"
    if api == "brave":
        assert asked.query["count"] == "2"


@pytest.mark.parametrize("api", ["brave", "tavily"])
def test_a_wrong_key_is_an_error_the_model_sees(search: FakeSearch, api: SearchProvider) -> None:
    with pytest.raises(ToolError, match=f"web search: {api} answered HTTP 401"):
        call(searcher(search, api, api_key="wrong"), {"query": "x"})


@pytest.mark.parametrize("api", PROVIDERS)
def test_failures_are_tool_errors(search: FakeSearch, api: SearchProvider) -> None:
    search.answer(503, "busy")
    with pytest.raises(ToolError, match="answered HTTP 503"):
        call(searcher(search, api), {"query": "x"})
    search.answer(200, "<html>not json</html>")
    with pytest.raises(ToolError, match="did not answer with JSON"):
        call(searcher(search, api), {"query": "x"})
    search.hang()
    with pytest.raises(ToolError, match="did not answer in time"):
        call(searcher(search, api, timeout_seconds=0.3), {"query": "x"})


def test_an_unreachable_api_is_a_tool_error() -> None:
    with FakeSearch() as gone:
        url = gone.url("searxng")
    found = HttpSearcher("searxng", base_url=url, api_key=None, timeout_seconds=5.0)
    with pytest.raises(ToolError, match="could not reach searxng"):
        call(found, {"query": "x"})


def test_bad_arguments_are_refused(search: FakeSearch) -> None:
    found = searcher(search, "searxng")
    for arguments, message in [
        ({}, "`query` is required"),
        ({"query": "  "}, "`query` is required"),
        ({"query": "x" * 401}, "longer than 400"),
        ({"query": "x", "count": 0}, "`count` must be an integer from 1 to 10"),
        ({"query": "x", "count": "3"}, "`count` must be an integer"),
        ({"query": "x", "page": 2}, "unknown argument"),
    ]:
        with pytest.raises(ToolError, match=message):
            call(found, arguments)
    assert search.requests == []


def test_no_results_says_so(search: FakeSearch) -> None:
    search.results = []
    assert call(searcher(search, "brave"), {"query": "nothing"}) == "No results for 'nothing'."


def test_settings_choose_the_api_and_refuse_what_is_missing(search: FakeSearch) -> None:
    assert searcher_from_settings(Settings()) is None
    with pytest.raises(ConfigurationError, match="BACKBEAT_SEARCH_URL"):
        searcher_from_settings(Settings(search_provider="searxng"))
    with pytest.raises(ConfigurationError, match="BACKBEAT_SEARCH_API_KEY"):
        searcher_from_settings(Settings(search_provider="tavily"))
    configured = Settings(
        search_provider="tavily", search_api_key="the-key", search_url=search.url("tavily")
    )
    found = searcher_from_settings(configured)
    assert found is not None
    assert "Nova Lights" in call(found, {"query": "nova"})


def test_an_answer_past_the_size_cap_is_refused_without_reading_it_all(
    search: FakeSearch,
) -> None:
    search.results = [SearchHit("Huge", "https://a.example/huge", "x" * (MAX_ANSWER_BYTES + 1))]
    with pytest.raises(ToolError, match="answer is too large"):
        call(searcher(search, "searxng"), {"query": "x"})


def test_a_bad_search_address_is_a_tool_error() -> None:
    found = HttpSearcher("searxng", base_url="http://[::1", api_key=None, timeout_seconds=5.0)
    with pytest.raises(ToolError, match="could not reach searxng"):
        call(found, {"query": "x"})
