"""Hostile page bodies against HttpFetcher: the event loop must stay responsive while a page is
decoded and reduced to text, and a page can only ever end as text or as a ToolError.

The issue behind these tests: a 1 MB page declaring `charset=punycode` froze a worker's loop
for 44 s (CPython's punycode decoder is quadratic), so its leases lapsed and its runs ran twice;
pages declaring `base64`, `zlib`, `hex`, ... raised non-tool errors. While each fetch runs, a
probe coroutine sleeps 5 ms at a time and records how late it wakes: the loop's worst stall.
The bound is loose on purpose (CI is a loaded 2-core machine); it guards against freezes of
seconds, it is not a benchmark.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

import pytest

from backbeat.agents.tools import web
from backbeat.agents.tools.base import FetchedPage
from backbeat.agents.tools.web import HttpFetcher
from tests.tools.helpers import LocalHttpServer, raises_tool_error, run, send

MAX_LOOP_LAG = 0.2  # seconds; the stall was 44 s
PROBE_INTERVAL = 0.005

# Lowercase letters only: every ASCII-compatible decoder reads it unchanged, and it is the
# input on which the punycode decoder is slowest (small digits, so it never stops early).
PLAIN = b"abcdefghijklmnopqrstuvwxyz" * 40_000  # 1.04 MB

# Not text encodings (bytes-to-bytes or str-to-str codecs, IDNA helpers, escape decoders),
# encodings no browser reads (utf-7), codec names that are not encodings, and unknown labels.
HOSTILE_CHARSETS = [
    "punycode",
    "idna",
    "base64",
    "base_64",
    "zlib",
    "hex",
    "bz2",
    "uu",
    "rot13",
    "rot-13",
    "quopri",
    "unicode_escape",
    "raw_unicode_escape",
    "utf-7",
    "charmap",
    "undefined",
    "x-no-such-charset",
]

PARAGRAPH = (
    b"<div class='post'><h2>Tour &amp; news</h2><p>The single <b>Afterglow</b> entered the "
    b"charts &mdash; <a href='/t?a=1&amp;b=2'>tickets</a>.</p><ul><li>Berlin</li>"
    b"<li>Paris</li></ul><script>var x = '<p>not text</p>';</script></div>\n"
)
BIG_HTML = b"<html><head><title>Nova Lights</title></head><body>" + PARAGRAPH * 14_000
# Malformed markup on which html.parser (CPython 3.11) is quadratic: each of these, 1 MB
# long, kept html_to_text busy for a minute or more.
MALFORMED_HTML = {
    "open-tags": b"<a" * 500_000,
    "open-end-tags": b"</" * 500_000,
    "processing-instructions": b"<?" * 500_000,
    "declarations": b"<!" * 500_000,
    "open-comments": b"<!--" * 250_000,
}


def _charset(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    name = parse_qs(urlsplit(handler.path).query)["name"][0]
    send(handler, 200, PLAIN, f"text/plain; charset={name}")


def _meta_charset(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    name = parse_qs(urlsplit(handler.path).query)["name"][0]
    head = f'<html><head><meta charset="{name}"><title>Nova</title></head><body><p>'.encode()
    send(handler, 200, head + PLAIN + b"</p></body></html>", "text/html")


def _html(body: bytes) -> Callable[[BaseHTTPRequestHandler, LocalHttpServer], None]:
    def route(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
        send(handler, 200, body, "text/html; charset=utf-8")

    return route


ROUTES = {
    "/charset": _charset,
    "/meta-charset": _meta_charset,
    "/big-html": _html(BIG_HTML),
    **{f"/malformed/{name}": _html(body) for name, body in MALFORMED_HTML.items()},
}


@pytest.fixture(scope="module")
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer(ROUTES) as local:
        yield local


def fetcher() -> HttpFetcher:
    # A generous time cap: a ToolError("timed out") must not hide slow work in these tests.
    return HttpFetcher(allow_private=True, max_bytes=8_000_000, timeout_seconds=60)


async def _fetch_measuring_lag(url: str) -> tuple[FetchedPage | BaseException, float]:
    """The fetch's outcome (page or exception) and the loop's worst stall while it ran: the
    most CPU the loop's thread spent between two ticks of a probe. CPU time, not wall time:
    work done on the loop is what stalls it, and a machine busy with other processes (the
    suite runs in parallel) must not look like a stall."""
    finished = asyncio.Event()
    worst = 0.0

    async def probe() -> None:
        nonlocal worst
        while not finished.is_set():
            started = time.thread_time()
            await asyncio.sleep(PROBE_INTERVAL)
            worst = max(worst, time.thread_time() - started)

    prober = asyncio.create_task(probe())
    await asyncio.sleep(0)  # the probe is sleeping before the fetch starts
    outcome: FetchedPage | BaseException
    try:
        outcome = await fetcher().fetch(url)
    except Exception as exc:  # the test checks its type
        outcome = exc
    finally:
        finished.set()
        await prober
    return outcome, worst


def fetch_measuring_lag(url: str) -> FetchedPage | BaseException:
    """The fetch's outcome, once the loop is known not to have stalled while it ran."""
    outcome, lag = run(_fetch_measuring_lag(url))
    assert lag < MAX_LOOP_LAG, f"the event loop stalled for {lag:.3f} s"
    return outcome


@pytest.mark.parametrize("charset", HOSTILE_CHARSETS)
def test_a_hostile_charset_header_falls_back_to_utf8_without_stalling_the_loop(
    server: LocalHttpServer, charset: str
) -> None:
    page = fetch_measuring_lag(server.url(f"/charset?name={charset}"))
    assert isinstance(page, FetchedPage), repr(page)
    assert page.text == PLAIN.decode("ascii")
    assert page.truncated is False


@pytest.mark.parametrize("charset", ["punycode", "base64", "zlib", "rot13", "utf-7", "nope"])
def test_a_hostile_meta_charset_falls_back_to_utf8_without_stalling_the_loop(
    server: LocalHttpServer, charset: str
) -> None:
    page = fetch_measuring_lag(server.url(f"/meta-charset?name={charset}"))
    assert isinstance(page, FetchedPage), repr(page)
    assert page.text == "Title: Nova\n" + PLAIN.decode("ascii")


def test_a_multi_megabyte_html_page_is_reduced_off_the_loop(server: LocalHttpServer) -> None:
    assert len(BIG_HTML) > 3_000_000
    page = fetch_measuring_lag(server.url("/big-html"))
    assert isinstance(page, FetchedPage), repr(page)
    lines = page.text.split("\n")
    assert lines[:7] == [
        "Title: Nova Lights",
        "Tour & news",
        "The single Afterglow entered the charts — tickets.",
        "- Berlin",
        "- Paris",
        "Tour & news",
        "The single Afterglow entered the charts — tickets.",
    ]
    assert len(lines) == 1 + 4 * 14_000
    assert "not text" not in page.text


@pytest.mark.parametrize("shape", sorted(MALFORMED_HTML))
def test_malformed_markup_is_reduced_in_linear_time_off_the_loop(
    server: LocalHttpServer, shape: str
) -> None:
    # A page, not a ToolError("timed out"): the work is bounded, not merely moved to a thread.
    page = fetch_measuring_lag(server.url(f"/malformed/{shape}"))
    assert isinstance(page, FetchedPage), repr(page)
    assert page.text == ""  # nothing readable: every "<" opens markup that never closes


def test_a_failure_while_reading_the_body_is_a_tool_error(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever goes wrong turning the bytes into text reaches the model as a ToolError, never
    as another exception type (which would end the run as an internal failure)."""

    def broken(html: str) -> str:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(web, "html_to_text", broken)
    message = raises_tool_error(fetcher().fetch(server.url("/meta-charset?name=utf-8")))
    assert message == (
        "could not read the page's text: RecursionError: maximum recursion depth exceeded"
    )
