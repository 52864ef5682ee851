"""fetch_web_page's fetcher: GET a page over HTTP(S), size and time capped, no private addresses.

The host is resolved here, every address it resolves to is checked, and the connection goes
to the checked address (the request names the IP; the Host header and, for HTTPS, the TLS
SNI and certificate check use the original host name). So a DNS answer that changes between
the check and the connection (DNS rebinding) cannot steer a request to a private address.
Redirects are followed by hand, each hop checked the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import socket
import ssl
import zlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

from backbeat.agents.tools.base import FetchedPage, ToolError, WebFetcher
from backbeat.agents.tools.charsets import body_encoding, decode_body
from backbeat.agents.tools.html_text import html_to_text

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]
"""(host, port) -> the addresses it resolves to, as strings; ToolError when it does not."""

USER_AGENT = "Backbeat/0.1 (scheduled agent tasks; fetch_web_page)"
MAX_URL_LENGTH = 8192
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_SETTING = "BACKBEAT_FETCH_ALLOW_PRIVATE"
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# IANA special-purpose blocks that are not globally reachable, spelled out so the verdict does
# not depend on the Python version's own tables (which changed between 3.11 patch releases).
_SPECIAL: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "a reserved address"),  # "this network"
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a shared (carrier-grade NAT) address"),
        ("172.16.0.0/12", "a private address"),
        ("192.0.0.0/24", "a reserved address"),  # IETF protocol assignments
        ("192.0.2.0/24", "a documentation address"),
        ("192.88.99.0/24", "a reserved address"),  # the old 6to4 relay anycast
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("240.0.0.0/4", "a reserved address"),  # with 255.255.255.255, broadcast
        ("64:ff9b:1::/48", "a reserved address"),  # local-use NAT64
        ("100::/64", "a reserved address"),  # discard-only
        ("2001::/23", "a reserved address"),  # IETF protocol assignments, Teredo
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),
        ("5f00::/16", "a reserved address"),  # SRv6 SIDs
        ("fc00::/7", "a private address"),  # unique local
        ("fec0::/10", "a site-local address"),
    )
)
_TEXT_TYPES = frozenset(
    {
        "application/json",
        "application/xml",
        "application/xhtml+xml",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/x-ndjson",
        "application/csv",
        "application/yaml",
        "application/x-yaml",
    }
)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


def non_public_reason(address: str | IPAddress) -> str | None:
    """Why `address` is not a globally routable unicast address ("a loopback address", ...),
    or None when it is one. IPv6 forms that embed an IPv4 address (IPv4-mapped, NAT64 and
    6to4) are judged by the embedded address."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        embedded, kind = _embedded_ipv4(ip)
        if embedded is not None:
            reason = non_public_reason(embedded)
            return None if reason is None else f"{reason} ({kind} {embedded})"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    for network, reason in _SPECIAL:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64 of"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4 of"
    if ip in _IPV4_COMPATIBLE and int(ip) > 1:  # deprecated ::a.b.c.d (:: and ::1 excepted)
        return ipaddress.IPv4Address(int(ip)), "IPv4-compatible"
    return None, ""


async def resolve(host: str, port: int) -> list[str]:
    """The host's TCP addresses, in resolver order, without duplicates."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (UnicodeError, OSError):  # socket.gaierror is an OSError
        raise ToolError(f"could not resolve {host}") from None
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ToolError(f"could not resolve {host}")
    return addresses


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
        current = _parse_url(url)
        for hop in range(self.max_redirects + 1):
            async with self._client() as client:
                response = await self._send(client, current)
                try:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        if hop == self.max_redirects:
                            raise ToolError(f"too many redirects (more than {self.max_redirects})")
                        current = _redirect_target(current, location)
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
        if media_type and not _is_text(media_type):
            raise ToolError(f"not text: {media_type}")
        body = bytearray()
        truncated = False
        async with contextlib.aclosing(_raw_chunks(response)) as chunks:
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
        html = media_type in _HTML_TYPES
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


def _parse_url(url: str) -> httpx.URL:
    if not isinstance(url, str) or not url.strip():
        raise ToolError("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise ToolError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ToolError(f"invalid URL: {url[:200]!r}") from None
    return _checked(parsed, url)


def _redirect_target(current: httpx.URL, location: str) -> httpx.URL:
    try:
        target = current.join(location.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ToolError(f"invalid redirect location: {location[:200]!r}") from None
    return _checked(target, location, redirect=True)


def _checked(url: httpx.URL, given: str, redirect: bool = False) -> httpx.URL:
    what = "redirect to" if redirect else "URL"
    if url.scheme not in ("http", "https"):
        raise ToolError(f"refused {what} {given[:200]!r}: only http and https URLs can be fetched")
    if not url.raw_host:
        raise ToolError(f"invalid {what} {given[:200]!r}: no host")
    if url.userinfo:
        raise ToolError(f"refused {what} with a user name or password")
    try:
        url.raw_host.decode("ascii")
    except UnicodeDecodeError:  # pragma: no cover - httpx IDNA-encodes hosts
        raise ToolError(f"invalid {what} {given[:200]!r}: bad host") from None
    return url.copy_with(fragment=None)


async def _raw_chunks(
    response: httpx.Response,
) -> AsyncGenerator[tuple[bytes, Callable[[bytes, int], bytes]], None]:
    """The body as it arrives, each chunk with the function that decompresses it."""
    if response.is_stream_consumed:  # built in memory (httpx.MockTransport): decoded already
        yield response.content, _identity
        return
    decompress = _decompressor(response.headers.get("content-encoding", ""))
    async for chunk in response.aiter_raw():
        yield chunk, decompress


def _identity(data: bytes, limit: int) -> bytes:
    return data


def _decompressor(content_encoding: str) -> Callable[[bytes, int], bytes]:
    """Undo the Content-Encoding (we ask for none, but gzip and deflate are undone anyway),
    producing at most `limit` bytes per call, so a small compressed body cannot balloon."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return _identity
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise ToolError(f"unsupported content encoding: {encoding[:50]}")
    inflater = zlib.decompressobj(wbits=31 if "gzip" in encoding else 47)

    def decompress(data: bytes, limit: int) -> bytes:
        try:  # input the last call left unread only matters when it returned `limit` bytes,
            # and then the caller stops reading
            return inflater.decompress(data, limit)
        except zlib.error:
            raise ToolError(f"the {encoding} body is corrupt") from None

    return decompress


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _is_text(media_type: str) -> bool:
    return (
        media_type.startswith("text/")
        or media_type in _TEXT_TYPES
        or media_type.endswith(("+json", "+xml"))
    )


def _readable_text(raw: bytes, content_type: str, html: bool, truncated: bool) -> str:
    """The body as text (HTML reduced to its readable text). Runs in a worker thread."""
    encoding = body_encoding(content_type, raw, html)
    text = decode_body(raw, encoding, final=not truncated)  # no U+FFFD for a character cut
    return html_to_text(text) if html else text
