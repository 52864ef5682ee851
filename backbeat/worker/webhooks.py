"""Posting a webhook event, signed (domain.webhooks.sign), to an endpoint's URL.

What a try reports (domain.deliveries.SendOutcome): a 2xx is ACCEPTED; anything else is
TEMPORARY (a refusal, a timeout, a 3xx, a 4xx, a 5xx: at least once, the receiver drops
repeats by `webhook-id`), until the retry schedule ends. An endpoint Backbeat may not reach
(a private address, unless BACKBEAT_WEBHOOK_ALLOW_PRIVATE) is PERMANENT: trying again will not
help. The connection goes to the address that was checked (pinned, like fetch_web_page's),
so a name that resolves elsewhere a moment later cannot redirect it. Redirects are not
followed. Only the start of the answer is read (RESPONSE_CAP), never its whole body.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Awaitable, Callable

import httpx

from backbeat import __version__
from backbeat.agents.tools.base import ToolError
from backbeat.agents.tools.web_addresses import non_public_reason, resolve
from backbeat.domain.deliveries import SendOutcome, SendResult
from backbeat.domain.webhooks import sign

RESPONSE_CAP = 4096  # bytes of an answer read (for the log's detail), at most
_SETTING = "BACKBEAT_WEBHOOK_ALLOW_PRIVATE"

Resolver = Callable[[str, int], Awaitable[list[str]]]


class WebhookPoster:
    def __init__(
        self,
        *,
        allow_private: bool,
        timeout_seconds: float,
        resolver: Resolver = resolve,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.allow_private = allow_private
        self.timeout_seconds = timeout_seconds
        self._resolver = resolver
        self._clock = clock  # the `webhook-timestamp` of each try: the real time it is sent

    async def post(self, url: str, message_id: str, body: str, secrets: list[str]) -> SendResult:
        try:
            target = httpx.URL(url)
        except httpx.InvalidURL:
            return SendResult(SendOutcome.PERMANENT, "the endpoint's URL is not valid")
        host = target.host
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            addresses = await self._addresses(host, port)
        except ToolError as exc:
            return SendResult(SendOutcome.TEMPORARY, str(exc))
        except PermissionError as exc:
            return SendResult(SendOutcome.PERMANENT, str(exc))
        payload = body.encode()
        headers = {
            **sign(secrets, message_id, int(self._clock()), payload),
            "content-type": "application/json",
            "user-agent": f"Backbeat/{__version__} (webhooks)",
            "host": target.netloc.decode("ascii"),
        }
        failure = "no address"
        async with httpx.AsyncClient(
            trust_env=False,
            follow_redirects=False,
            timeout=httpx.Timeout(self.timeout_seconds),
            transport=httpx.AsyncHTTPTransport(retries=0),
        ) as client:
            for address in addresses:
                pinned = target.copy_with(host=address.split("%", 1)[0])
                extensions = {"sni_hostname": host} if target.scheme == "https" else {}
                request = client.build_request(
                    "POST", pinned, content=payload, headers=headers, extensions=extensions
                )
                try:
                    return await self._send(client, request)
                except httpx.ConnectError as exc:
                    failure = str(exc) or type(exc).__name__
        return SendResult(SendOutcome.TEMPORARY, f"could not connect to {host}: {failure}")

    async def _send(self, client: httpx.AsyncClient, request: httpx.Request) -> SendResult:
        try:
            response = await client.send(request, stream=True)
        except httpx.ConnectError:
            raise
        except httpx.TimeoutException:
            return SendResult(SendOutcome.TEMPORARY, f"no answer within {self.timeout_seconds:g} s")
        except httpx.HTTPError as exc:
            return SendResult(SendOutcome.TEMPORARY, f"{type(exc).__name__}: {exc}"[:200])
        try:
            seen = 0
            async for chunk in response.aiter_raw():
                seen += len(chunk)
                if seen >= RESPONSE_CAP:
                    break
        except httpx.HTTPError:
            pass  # the status line is what counts
        finally:
            await response.aclose()
        status = response.status_code
        if 200 <= status < 300:
            return SendResult(SendOutcome.ACCEPTED, f"HTTP {status}")
        return SendResult(SendOutcome.TEMPORARY, f"HTTP {status}")

    async def _addresses(self, host: str, port: int) -> list[str]:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [str(literal)] if literal is not None else await self._resolver(host, port)
        if not self.allow_private:
            for address in addresses:
                reason = non_public_reason(address)
                if reason is not None:
                    raise PermissionError(
                        f"refused: {host} is {address}, {reason}; webhooks to private "
                        f"addresses are disabled ({_SETTING})"
                    )
        return addresses
