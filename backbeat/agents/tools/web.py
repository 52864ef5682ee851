"""fetch_web_page's fetcher: GET a page over HTTP(S), size and time capped, no private addresses.

The host is resolved here, every address it resolves to is checked, and the connection goes
to the checked address (the request names the IP; the Host header and, for HTTPS, the TLS
SNI and certificate check use the original host name). So a DNS answer that changes between
the check and the connection (DNS rebinding) cannot steer a request to a private address.
Redirects are followed by hand, each hop checked the same way.

Beside this module: which URLs are accepted (web_urls), which addresses count as public
(web_addresses) and how a body's bytes arrive (web_bodies). The fetcher calls
`non_public_reason` and `html_to_text` by this module's names, which tests replace.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx

from backbeat.agents.tools.base import FetchedPage, ToolError, WebFetcher
from backbeat.agents.tools.charsets import body_encoding, decode_body
from backbeat.agents.tools.html_text import html_to_text
from backbeat.agents.tools.web_addresses import IPAddress, Resolver, non_public_reason, resolve
from backbeat.agents.tools.web_bodies import HTML_TYPES, is_text, raw_chunks
from backbeat.agents.tools.web_urls import parse_url, redirect_target

USER_AGENT = "Backbeat/0.1 (scheduled agent tasks; fetch_web_page)"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SETTING = "BACKBEAT_FETCH_ALLOW_PRIVATE"


class HttpFetcher:
    """The WebFetcher of a running service (see the module docstring).

    `allow_private` switches the address check off entirely. `resolver`, `transport_factory`
    and `ssl_context` exist for tests (and for trusting a private CA); by default the system
    resolver, a fresh httpx transport per hop (no connection is ever reused for another host
    name) and certifi's CA bundle are used.
    """

    def __init__(
        self,
        allow_private: bool,
        max_bytes: int,
        timeout_seconds: float,
        max_redirects: int = 5,
        *,
        resolver: Resolver | None = None,
        transport_factory: Callable[[], httpx.AsyncBaseTransport] | None = None,
        ssl_context: ssl.SSLContext | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds
        self.max_redirects = max_redirects
        self._resolver = resolver or resolve
        self._transport_factory = transport_factory
        self._ssl_context = ssl_context
        self._user_agent = user_agent

    async def fetch(self, url: str) -> FetchedPage:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                return await self._fetch(url)
        except TimeoutError:
            raise ToolError(f"timed out after {self.timeout_seconds:g} s") from None

    async def _fetch(self, url: str) -> FetchedPage:
        current = parse_url(url)
        for hop in range(self.max_redirects + 1):
            async with self._client() as client:
                response = await self._send(client, current)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        if hop == self.max_redirects:
                            raise ToolError(f"too many redirects (more than {self.max_redirects})")
                        current = redirect_target(current, location)
                        continue
                    return await self._page(current, response)
                except httpx.TimeoutException:
                    raise ToolError(f"timed out after {self.timeout_seconds:g} s") from None
                except httpx.HTTPError as exc:
                    raise ToolError(f"fetching {current.host} failed: {_describe(exc)}") from None
                finally:
                    await response.aclose()
        raise AssertionError("unreachable")  # pragma: no cover

    def _client(self) -> httpx.AsyncClient:
        transport = (
            self._transport_factory()
            if self._transport_factory is not None
            else httpx.AsyncHTTPTransport(verify=self._verify(), retries=0)
        )
        return httpx.AsyncClient(
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout_seconds),
        )

    def _verify(self) -> ssl.SSLContext:
        return self._ssl_context or _default_ssl_context()

    async def _addresses(self, host: str, port: int) -> list[str]:
        """The checked addresses to connect to for `host` (an IP literal is its own)."""
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [str(literal)] if literal is not None else await self._resolver(host, port)
        if not self.allow_private:
            for address in addresses:
                reason = non_public_reason(address)
                if reason is not None:
                    raise ToolError(
                        f"refused: {address} is {reason}; fetching private addresses is "
                        f"disabled ({_SETTING})"
                        if literal is not None
                        else f"refused: {host} resolves to {address}, which is {reason}; "
                        f"fetching private addresses is disabled ({_SETTING})"
                    )
        return addresses

    async def _send(self, client: httpx.AsyncClient, url: httpx.URL) -> httpx.Response:
        """Send the GET to each checked address in turn until one connects."""
        host = url.raw_host.decode("ascii")
        port = url.port or (443 if url.scheme == "https" else 80)
        headers = {
            "Host": url.netloc.decode("ascii"),
            "User-Agent": self._user_agent,
            "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
            "Accept-Encoding": "identity",  # no decompression bombs
        }
        failure = "no address"
        for address in await self._addresses(host, port):
            try:
                pinned = url.copy_with(host=address.split("%", 1)[0])
            except httpx.InvalidURL:
                continue
            extensions = {"sni_hostname": host} if url.scheme == "https" else {}
            request = client.build_request("GET", pinned, headers=headers, extensions=extensions)
            try:
                return await client.send(request, stream=True)
            except httpx.ConnectError as exc:
                failure = _describe(exc)
            except httpx.TimeoutException:
                raise ToolError(f"timed out after {self.timeout_seconds:g} s") from None
            except httpx.HTTPError as exc:
                raise ToolError(f"fetching {host} failed: {_describe(exc)}") from None
        raise ToolError(f"could not connect to {host}: {failure}")

    async def _page(self, url: httpx.URL, response: httpx.Response) -> FetchedPage:
        status = response.status_code
        if status >= 300 or status < 200:
            raise ToolError(f"HTTP {status}")
        header = response.headers.get("content-type", "")
        media_type = header.split(";", 1)[0].strip().lower()
        if media_type and not is_text(media_type):
            raise ToolError(f"not text: {media_type}")
        body = bytearray()
        truncated = False
        async with contextlib.aclosing(raw_chunks(response)) as chunks:
            async for chunk, decompress in chunks:
                room = self.max_bytes - len(body)
                data = decompress(chunk, room + 1)  # never inflates more than it may keep
                if len(data) > room:
                    body += data[:room]
                    truncated = True
                    break
                body += data
        raw = bytes(body)
        if not media_type and b"\x00" in raw[:4096]:
            raise ToolError("not text: binary data without a content type")
        html = media_type in HTML_TYPES
        try:
            # Decoding and HTML-to-text take time proportional to the body (up to max_bytes of
            # untrusted input): in a worker thread the event loop keeps running (lease renewals
            # included) meanwhile.
            text = await asyncio.to_thread(_readable_text, raw, header, html, truncated)
        except Exception as exc:  # a page the model asked for, not a bug of the run: tell it
            raise ToolError(f"could not read the page's text: {_describe(exc)}") from None
        return FetchedPage(
            url=str(url),
            status=status,
            content_type=media_type or "text/plain",
            text=text,
            truncated=truncated,
        )


if TYPE_CHECKING:
    _fetcher: WebFetcher = HttpFetcher(False, 1, 1.0)


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    """certifi's CA bundle, loaded once per process (it takes tens of milliseconds)."""
    return httpx.create_ssl_context()


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _readable_text(raw: bytes, content_type: str, html: bool, truncated: bool) -> str:
    """The body as text (HTML reduced to its readable text). Runs in a worker thread."""
    encoding = body_encoding(content_type, raw, html)
    text = decode_body(raw, encoding, final=not truncated)  # no U+FFFD for a character cut
    return html_to_text(text) if html else text
