"""POSTing to a URL an account gave (a webhook endpoint, a Slack incoming webhook) the way
fetch_web_page reaches pages: the host's addresses are resolved and checked first (no
private, loopback or link-local address unless the operator allows them), and the connection
goes to an address that was checked (pinned), so a name that resolves elsewhere a moment
later cannot redirect it. No redirects are followed, no proxy is read from the environment,
and the client makes no retries of its own: the outbox decides."""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable

import httpx

from backbeat.agents.tools.base import ToolError
from backbeat.agents.tools.web_addresses import non_public_reason, resolve
from backbeat.domain.deliveries import SendOutcome, SendResult

Resolver = Callable[[str, int], Awaitable[list[str]]]
Send = Callable[[httpx.AsyncClient, httpx.Request], Awaitable[SendResult]]


class Refused(Exception):
    """The URL's host is, or resolves to, an address Backbeat may not reach."""


async def checked_addresses(
    host: str, port: int, *, allow_private: bool, resolver: Resolver, what: str
) -> list[str]:
    """The addresses to connect to for `host` (an IP literal is its own); Refused names
    the first one that is not public, when private ones are not allowed. A name that does
    not resolve raises the resolver's error (agents.tools.base.ToolError)."""
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else await resolver(host, port)
    if not allow_private:
        for address in addresses:
            reason = non_public_reason(address)
            if reason is not None:
                raise Refused(
                    f"refused: {host} is {address}, {reason}; {what} to private addresses "
                    "are disabled (BACKBEAT_WEBHOOK_ALLOW_PRIVATE)"
                )
    return addresses


async def post_pinned(
    target: httpx.URL,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    resolver: Resolver,
    what: str,
    timeout_seconds: float,
    send: Send,
) -> SendResult:
    """POST `body` to the first checked address of the target's host that connects; `send`
    sends the request and says how it ended. A name that does not resolve, or a connection
    that failed before anything was sent (on every address), is temporary: nothing left; a
    host Backbeat may not reach is permanent."""
    host = target.host
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        addresses = await checked_addresses(
            host, port, allow_private=allow_private, resolver=resolver, what=what
        )
    except ToolError as exc:
        return SendResult(SendOutcome.TEMPORARY, str(exc))
    except Refused as exc:
        return SendResult(SendOutcome.PERMANENT, str(exc))
    failure = "no address"
    async with httpx.AsyncClient(
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(timeout_seconds),
        transport=httpx.AsyncHTTPTransport(retries=0),
    ) as client:
        for address in addresses:
            pinned = target.copy_with(host=address.split("%", 1)[0])
            extensions = {"sni_hostname": host} if target.scheme == "https" else {}
            request = client.build_request(
                "POST",
                pinned,
                content=body,
                headers={**headers, "host": target.netloc.decode("ascii")},
                extensions=extensions,
            )
            try:
                return await send(client, request)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = str(exc) or type(exc).__name__
    return SendResult(SendOutcome.TEMPORARY, f"could not connect to {host}: {failure}"[:300])


__all__ = ["Refused", "Resolver", "checked_addresses", "post_pinned", "resolve"]
