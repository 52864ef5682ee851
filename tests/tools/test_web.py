"""HttpFetcher against real local servers (loopback only).

Loopback is exactly what the fetcher refuses by default, so tests that need a "public" host
(redirect checks, DNS rebinding, TLS) do two things, both visible in the test:
  * a fake resolver (`fake_resolver`) answers for made-up `.test` names, which the system
    resolver cannot resolve, so a successful fetch proves the connection went to the address
    the fetcher checked, not to one httpx looked up itself;
  * `pretend_loopback_is_public` monkeypatches `web.non_public_reason` so that 127.0.0.1,
    and only it, counts as public; every other private address is still refused.
"""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest

from backbeat.agents.tools import web
from backbeat.agents.tools.base import FetchedPage
from backbeat.agents.tools.html_text import html_to_text
from backbeat.agents.tools.web import HttpFetcher
from backbeat.agents.tools.web_addresses import non_public_reason
from tests.tools import tls_material
from tests.tools.helpers import LocalHttpServer, fake_resolver, raises_tool_error, run, send

HTML = b"""<!doctype html>
<html><head><title>Nova Lights \xe2\x80\x93 News</title>
<style>body { color: red }</style><script>var secret = "do not show";</script></head>
<body><nav><ul><li>Home</li><li>Tour</li></ul></nav>
<h1>New   single&nbsp;out &amp; charting</h1>
<p>The single <b>Afterglow</b> entered
   the charts.</p><noscript>enable JS</noscript><svg><text>logo</text></svg>
<table><tr><td>Spotify</td><td>1,204,000</td></tr></table>
</body></html>"""


def _hello(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, HTML, "text/html; charset=utf-8")


def _big(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, b"0123456789" * 10_000, "text/plain")


def _slow(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    server.release.wait(5)  # until the test is over
    send(handler, 200, b"late", "text/plain")


def _trickle(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", "1000000")
    handler.end_headers()
    try:
        while not server.release.wait(0.05):  # one byte per 50 ms: each read is quick
            handler.wfile.write(b"x")
            handler.wfile.flush()
    except OSError:
        pass


def _image(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")


def _missing_type(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, b"\x00\x01\x02binary", None)


def _latin1(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, "Café Olé".encode("latin-1"), "text/plain; charset=ISO-8859-1")


def _meta_charset(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    body = '<html><head><meta charset="windows-1252"></head><p>Beyoncé</p></html>'
    send(handler, 200, body.encode("cp1252"), "text/html")


def _json(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, b'{"listeners": 1204000}', "application/json")


def _gzip_bomb(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    # 20 MB of spaces in about 20 kB, sent although we asked for no compression
    body = gzip.compress(b"a" + b" " * 20_000_000, compresslevel=9)
    send(handler, 200, body, "text/plain", [("Content-Encoding", "gzip")])


def _brotli(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, b"\x0b\x02\x80hi\x03", "text/plain", [("Content-Encoding", "br")])


def _utf8(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 200, "é".encode() * 1000, "text/plain; charset=utf-8")


def _server_error(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
    send(handler, 503, b"down", "text/plain")


def _redirect(location: str, status: int = 302) -> object:
    def route(handler: BaseHTTPRequestHandler, server: LocalHttpServer) -> None:
        target = location.replace("{port}", str(server.port))
        send(handler, status, b"", "text/plain", [("Location", target)])

    return route


ROUTES = {
    "/hello": _hello,
    "/big": _big,
    "/slow": _slow,
    "/trickle": _trickle,
    "/image": _image,
    "/missing-type": _missing_type,
    "/latin1": _latin1,
    "/meta-charset": _meta_charset,
    "/json": _json,
    "/error": _server_error,
    "/gzip-bomb": _gzip_bomb,
    "/brotli": _brotli,
    "/utf8": _utf8,
    "/r0": _redirect("/hello"),
    "/r1": _redirect("/r0", 301),
    "/r2": _redirect("/r1", 307),
    "/r3": _redirect("http://public.test:{port}/r2", 308),  # absolute, same "public" host
    "/loop": _redirect("/loop"),
    "/to-internal-name": _redirect("http://internal.test:{port}/hello"),
    "/to-private-ip": _redirect("http://192.168.1.20/admin"),
    "/to-loopback-name": _redirect("http://localhost:{port}/hello"),
    "/to-file": _redirect("file:///etc/passwd"),
    "/to-metadata": _redirect("http://169.254.169.254/latest/meta-data/"),
}


@pytest.fixture
def server() -> Iterator[LocalHttpServer]:
    with LocalHttpServer(ROUTES) as local:  # type: ignore[arg-type]
        yield local


@pytest.fixture
def pretend_loopback_is_public(monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulate a public host: 127.0.0.1 (only) passes the address check."""
    real = web.non_public_reason

    def reason(address: str | web.IPAddress) -> str | None:
        return None if str(address) == "127.0.0.1" else real(address)

    monkeypatch.setattr(web, "non_public_reason", reason)


PUBLIC = {"public.test": ["127.0.0.1"], "internal.test": ["10.1.2.3"]}


def fetcher(**options: object) -> HttpFetcher:
    settings: dict[str, object] = {
        "allow_private": False,
        "max_bytes": 1_000_000,
        "timeout_seconds": 5.0,
    }
    settings.update(options)
    return HttpFetcher(**settings)  # type: ignore[arg-type]


# Private addresses


def test_loopback_is_refused_by_default_and_nothing_is_sent(server: LocalHttpServer) -> None:
    message = raises_tool_error(fetcher().fetch(server.url("/hello")))
    assert message == (
        "refused: 127.0.0.1 is a loopback address; fetching private addresses is disabled "
        "(BACKBEAT_FETCH_ALLOW_PRIVATE)"
    )
    assert server.requests == []


def test_a_name_resolving_to_loopback_is_refused(server: LocalHttpServer) -> None:
    message = raises_tool_error(fetcher().fetch(server.url("/hello", host="localhost")))
    assert message.startswith("refused: localhost resolves to ")
    assert "loopback address" in message
    assert "BACKBEAT_FETCH_ALLOW_PRIVATE" in message
    assert server.requests == []


def test_numeric_host_spellings_are_judged_by_what_they_resolve_to(
    server: LocalHttpServer,
) -> None:
    # 2130706433 == 0x7f000001: getaddrinfo reads it as 127.0.0.1, and so does the check.
    message = raises_tool_error(fetcher().fetch(server.url("/hello", host="2130706433")))
    assert "127.0.0.1, which is a loopback address" in message
    assert server.requests == []


def test_ipv6_loopback_and_mapped_ipv4_are_refused() -> None:
    assert "loopback" in raises_tool_error(fetcher().fetch("http://[::1]:9/"))
    message = raises_tool_error(fetcher().fetch("http://[::ffff:127.0.0.1]:9/"))
    assert "loopback address (IPv4-mapped 127.0.0.1)" in message


def test_any_private_address_among_several_refuses_the_host() -> None:
    resolver = fake_resolver({"mixed.test": ["93.184.215.14", "10.0.0.7"]})
    message = raises_tool_error(fetcher(resolver=resolver).fetch("http://mixed.test/"))
    assert message == (
        "refused: mixed.test resolves to 10.0.0.7, which is a private address; fetching "
        "private addresses is disabled (BACKBEAT_FETCH_ALLOW_PRIVATE)"
    )


def test_allow_private_fetches_loopback(server: LocalHttpServer) -> None:
    page = run(fetcher(allow_private=True).fetch(server.url("/hello")))
    assert page.status == 200
    assert page.url == server.url("/hello")
    assert page.content_type == "text/html"
    assert "Afterglow" in page.text
    assert page.truncated is False


# Caps


def test_the_body_is_cut_at_max_bytes(server: LocalHttpServer) -> None:
    page = run(fetcher(allow_private=True, max_bytes=1024).fetch(server.url("/big")))
    assert page.truncated is True
    assert page.text == ("0123456789" * 103)[:1024]


def test_a_body_within_the_cap_is_whole(server: LocalHttpServer) -> None:
    page = run(fetcher(allow_private=True, max_bytes=100_000).fetch(server.url("/big")))
    assert page.truncated is False
    assert len(page.text) == 100_000


def test_a_compressed_body_is_capped_after_decompression(server: LocalHttpServer) -> None:
    page = run(fetcher(allow_private=True, max_bytes=2048).fetch(server.url("/gzip-bomb")))
    assert page.truncated is True
    assert page.text == "a" + " " * 2047
    unsupported = raises_tool_error(fetcher(allow_private=True).fetch(server.url("/brotli")))
    assert unsupported == "unsupported content encoding: br"


def test_a_cut_never_splits_a_character(server: LocalHttpServer) -> None:
    page = run(fetcher(allow_private=True, max_bytes=1025).fetch(server.url("/utf8")))
    assert page.truncated is True
    assert page.text == "é" * 512  # 1024 bytes; the odd byte is half an é, dropped


def test_a_slow_server_times_out(server: LocalHttpServer) -> None:
    started = time.monotonic()
    message = raises_tool_error(
        fetcher(allow_private=True, timeout_seconds=0.3).fetch(server.url("/slow"))
    )
    assert message == "timed out after 0.3 s"
    assert time.monotonic() - started < 2


def test_the_time_cap_is_total_not_per_read(server: LocalHttpServer) -> None:
    # Every read completes within 50 ms, so only a cap on the whole fetch stops this.
    started = time.monotonic()
    message = raises_tool_error(
        fetcher(allow_private=True, timeout_seconds=0.4).fetch(server.url("/trickle"))
    )
    assert message == "timed out after 0.4 s"
    assert time.monotonic() - started < 2


# Redirects


def test_redirects_are_followed(server: LocalHttpServer, pretend_loopback_is_public: None) -> None:
    resolver = fake_resolver(PUBLIC)
    page = run(fetcher(resolver=resolver).fetch(server.url("/r3", host="public.test")))
    assert page.url == server.url("/hello", host="public.test")
    assert "Afterglow" in page.text
    assert [path for path, _ in server.requests] == ["/r3", "/r2", "/r1", "/r0", "/hello"]
    assert {host for _, host in server.requests} == {f"public.test:{server.port}"}
    assert resolver.asked == ["public.test"] * 5  # type: ignore[attr-defined]


def test_redirects_are_capped(server: LocalHttpServer, pretend_loopback_is_public: None) -> None:
    resolver = fake_resolver(PUBLIC)
    capped = fetcher(resolver=resolver, max_redirects=2)
    message = raises_tool_error(capped.fetch(server.url("/r3", host="public.test")))
    assert message == "too many redirects (more than 2)"
    assert len(server.requests) == 3  # the first request and two redirects
    loop = raises_tool_error(fetcher(resolver=resolver).fetch(server.url("/loop")))
    assert loop == "too many redirects (more than 5)"


def test_a_redirect_to_a_private_address_is_refused(
    server: LocalHttpServer, pretend_loopback_is_public: None
) -> None:
    public = fetcher(resolver=fake_resolver(PUBLIC))
    by_name = raises_tool_error(public.fetch(server.url("/to-internal-name", host="public.test")))
    assert by_name.startswith("refused: internal.test resolves to 10.1.2.3, which is a private")
    by_ip = raises_tool_error(public.fetch(server.url("/to-private-ip", host="public.test")))
    assert by_ip.startswith("refused: 192.168.1.20 is a private address")
    metadata = raises_tool_error(public.fetch(server.url("/to-metadata", host="public.test")))
    assert metadata.startswith("refused: 169.254.169.254 is a link-local address")
    file = raises_tool_error(public.fetch(server.url("/to-file", host="public.test")))
    assert "only http and https" in file
    assert [path for path, _ in server.requests] == [
        "/to-internal-name",
        "/to-private-ip",
        "/to-metadata",
        "/to-file",
    ]


def test_a_redirect_to_loopback_by_name_is_refused_without_the_simulation(
    server: LocalHttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first hop is made "public" by the fake resolver answering with a TEST-NET address
    # routed (by a MockTransport) to a canned redirect; the second hop is the real resolver.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": server.url("/hello", host="localhost")})

    async def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14"] if host == "public.test" else await web.resolve(host, port)

    redirecting = fetcher(resolver=resolver, transport_factory=lambda: httpx.MockTransport(handler))
    message = raises_tool_error(redirecting.fetch("http://public.test/"))
    assert message.startswith("refused: localhost resolves to ")
    assert server.requests == []


# DNS rebinding: the connection goes to the checked address


def test_the_connection_goes_to_the_checked_address(
    server: LocalHttpServer, pretend_loopback_is_public: None
) -> None:
    answers = iter([["127.0.0.1"]])  # a rebinding resolver: a later answer would be private

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers, ["10.9.9.9"])

    page = run(fetcher(resolver=rebinding).fetch(server.url("/hello", host="rebind.test")))
    assert page.status == 200
    # rebind.test does not exist: only a connection to the checked 127.0.0.1 could reach us,
    # and the server saw the original name in Host.
    assert server.requests == [("/hello", f"rebind.test:{server.port}")]


def test_the_transport_is_asked_for_the_ip_with_the_original_host_and_sni() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, headers={"Content-Type": "text/plain"}, content=b"ok")

    resolver = fake_resolver(
        {"example.com": ["93.184.215.14"], "api.example.com": ["2606:2800::1"]}
    )
    pinned = fetcher(resolver=resolver, transport_factory=lambda: httpx.MockTransport(handler))
    run(pinned.fetch("https://example.com/charts?week=12#top"))
    run(pinned.fetch("http://api.example.com:8080/v1"))

    https, plain = seen
    assert str(https.url) == "https://93.184.215.14/charts?week=12"
    assert https.headers["Host"] == "example.com"
    assert https.extensions["sni_hostname"] == "example.com"
    assert str(plain.url) == "http://[2606:2800::1]:8080/v1"
    assert plain.headers["Host"] == "api.example.com:8080"
    assert "sni_hostname" not in plain.extensions


def test_tls_uses_the_host_name_for_sni_and_verification(tmp_path: Path) -> None:
    """A real TLS server on 127.0.0.1 whose certificate names backbeat.test and 127.0.0.1:
    httpx connects to the IP, sends SNI backbeat.test and verifies the certificate for
    backbeat.test (so a name the certificate lacks fails even though the IP is in it)."""
    tls = tls_material.server_context(tmp_path)
    with LocalHttpServer(ROUTES, tls=tls) as secure:  # type: ignore[arg-type]
        resolver = fake_resolver({"backbeat.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
        https = fetcher(
            allow_private=True, resolver=resolver, ssl_context=tls_material.client_context()
        )
        page = run(https.fetch(secure.url("/json", host="backbeat.test", scheme="https")))
        assert page.text == '{"listeners": 1204000}'
        assert secure.sni_names == ["backbeat.test"]
        assert secure.requests == [("/json", f"backbeat.test:{secure.port}")]

        message = raises_tool_error(
            https.fetch(secure.url("/json", scheme="https", host="other.test"))
        )
        assert message.startswith("could not connect to other.test:")
        assert "CERTIFICATE_VERIFY_FAILED" in message
        assert secure.sni_names[-1] == "other.test"


# Content


def test_html_is_reduced_to_readable_text(server: LocalHttpServer) -> None:
    page = run(fetcher(allow_private=True).fetch(server.url("/hello")))
    assert page.text == (
        "Title: Nova Lights – News\n"
        "- Home\n"
        "- Tour\n"
        "New single out & charting\n"
        "The single Afterglow entered the charts.\n"
        "Spotify 1,204,000"
    )


def test_html_to_text_edge_cases() -> None:
    assert html_to_text("") == ""
    assert html_to_text("plain <b>bold</b>") == "plain bold"
    assert html_to_text("<p>a<br>b</p><p>c</p>") == "a\nb\nc"
    assert html_to_text("<script>alert(1)</script><style>x</style>ok") == "ok"
    assert html_to_text("<p>unclosed <div>nested") == "unclosed\nnested"
    assert html_to_text("&lt;tag&gt; &eacute; &#8364;") == "<tag> é €"


def test_non_text_is_refused(server: LocalHttpServer) -> None:
    message = raises_tool_error(fetcher(allow_private=True).fetch(server.url("/image")))
    assert message == "not text: image/png"
    binary = raises_tool_error(fetcher(allow_private=True).fetch(server.url("/missing-type")))
    assert binary.startswith("not text:")


def test_http_errors(server: LocalHttpServer) -> None:
    assert raises_tool_error(fetcher(allow_private=True).fetch(server.url("/nope"))) == "HTTP 404"
    assert raises_tool_error(fetcher(allow_private=True).fetch(server.url("/error"))) == "HTTP 503"


def test_charsets(server: LocalHttpServer) -> None:
    latin = run(fetcher(allow_private=True).fetch(server.url("/latin1")))
    assert latin.text == "Café Olé"
    meta = run(fetcher(allow_private=True).fetch(server.url("/meta-charset")))
    assert meta.text == "Beyoncé"
    data = run(fetcher(allow_private=True).fetch(server.url("/json")))
    assert data == FetchedPage(
        url=server.url("/json"),
        status=200,
        content_type="application/json",
        text='{"listeners": 1204000}',
        truncated=False,
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://example.com/file", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("javascript:alert(1)", "only http and https"),
        ("http://user:secret@example.com/", "user name or password"),
        ("http:///path-only", "no host"),
        ("", "empty"),
        ("http://" + "a" * 9000 + ".com/", "longer than"),
    ],
)
def test_bad_urls(url: str, expected: str) -> None:
    assert expected in raises_tool_error(fetcher().fetch(url))


def test_unresolvable_and_unreachable_hosts() -> None:
    unknown = fake_resolver({})
    assert raises_tool_error(fetcher(resolver=unknown).fetch("http://nowhere.test/")) == (
        "could not resolve nowhere.test"
    )
    # Port 9 (discard) on loopback: nothing listens there.
    refused = raises_tool_error(fetcher(allow_private=True).fetch("http://127.0.0.1:9/"))
    assert refused.startswith("could not connect to 127.0.0.1:")


def test_constructor_checks_its_limits() -> None:
    with pytest.raises(ValueError, match="max_bytes"):
        HttpFetcher(False, 0, 1)
    with pytest.raises(ValueError, match="timeout"):
        HttpFetcher(False, 10, 0)
    with pytest.raises(ValueError, match="max_redirects"):
        HttpFetcher(False, 10, 1, -1)


# The address classifier

ADDRESSES = [
    # public
    ("8.8.8.8", None),
    ("93.184.215.14", None),
    ("1.1.1.1", None),
    ("2606:4700:4700::1111", None),
    ("2001:4860:4860::8888", None),
    ("::ffff:8.8.8.8", None),
    ("64:ff9b::808:808", None),  # NAT64 of 8.8.8.8
    # IPv4 special ranges
    ("0.0.0.0", "an unspecified address"),
    ("0.1.2.3", "a reserved address"),
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("10.0.0.1", "a private address"),
    ("172.16.5.4", "a private address"),
    ("172.31.255.255", "a private address"),
    ("192.168.0.1", "a private address"),
    ("192.168.255.255", "a private address"),
    ("172.32.0.1", None),
    ("11.0.0.1", None),
    ("169.254.169.254", "a link-local address"),
    ("100.64.0.1", "a shared (carrier-grade NAT) address"),
    ("100.127.255.254", "a shared (carrier-grade NAT) address"),
    ("192.0.0.8", "a reserved address"),
    ("192.0.2.1", "a documentation address"),  # TEST-NET-1
    ("198.18.0.1", "a benchmarking address"),  # benchmarking
    ("198.51.100.7", "a documentation address"),  # TEST-NET-2
    ("203.0.113.9", "a documentation address"),  # TEST-NET-3
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("192.88.99.1", "a reserved address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),
    # IPv6 special ranges
    ("::", "an unspecified address"),
    ("::1", "a loopback address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("fec0::1", "a site-local address"),
    ("fc00::1", "a private address"),
    ("fd12:3456:789a::1", "a private address"),
    ("ff02::1", "a multicast address"),
    ("ff0e::1", "a multicast address"),
    ("2001:db8::1", "a documentation address"),
    ("100::1", "a reserved address"),
    ("2001::1", "a reserved address"),  # Teredo
    ("64:ff9b:1::1", "a reserved address"),  # local-use NAT64
    ("3fff::1", "a documentation address"),
    ("5f00::1", "a reserved address"),
    # IPv6 forms embedding a private IPv4 address
    ("::ffff:127.0.0.1", "a loopback address (IPv4-mapped 127.0.0.1)"),
    ("::ffff:10.0.0.1", "a private address (IPv4-mapped 10.0.0.1)"),
    ("::ffff:169.254.169.254", "a link-local address (IPv4-mapped 169.254.169.254)"),
    ("64:ff9b::7f00:1", "a loopback address (NAT64 of 127.0.0.1)"),
    ("64:ff9b::a9fe:a9fe", "a link-local address (NAT64 of 169.254.169.254)"),
    ("2002:7f00:1::", "a loopback address (6to4 of 127.0.0.1)"),
    ("2002:c0a8:101::1", "a private address (6to4 of 192.168.1.1)"),
    ("::127.0.0.1", "a loopback address (IPv4-compatible 127.0.0.1)"),
]


@pytest.mark.parametrize(("address", "expected"), ADDRESSES)
def test_address_classifier(address: str, expected: str | None) -> None:
    assert non_public_reason(address) == expected
