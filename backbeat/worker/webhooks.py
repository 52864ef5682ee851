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

import time
from collections.abc import Callable

import httpx

from backbeat import __version__
from backbeat.domain.deliveries import SendOutcome, SendResult
from backbeat.domain.webhooks import sign
from backbeat.worker.pinned_http import Resolver, post_pinned, resolve

RESPONSE_CAP = 4096  # bytes of an answer read (for the log's detail), at most


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
        payload = body.encode()
        headers = {
            **sign(secrets, message_id, int(self._clock()), payload),
            "content-type": "application/json",
            "user-agent": f"Backbeat/{__version__} (webhooks)",
        }
        return await post_pinned(
            target,
            payload,
            headers,
            allow_private=self.allow_private,
            resolver=self._resolver,
            what="webhooks",
            timeout_seconds=self.timeout_seconds,
            send=self._send,
        )

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
