"""Posting a message (domain.reports.slack_payload) to a Slack incoming webhook.

Slack is **at most once**, like email: a report posted twice in a channel is worse than one
lost, so a try that may have reached Slack is never made again. What a try reports
(domain.deliveries.SendOutcome):

- a 2xx (Slack answers 200 "ok") is ACCEPTED;
- a 4xx but 429 (invalid_payload, invalid_blocks, action_prohibited, invalid_token,
  no_service, channel_not_found, channel_is_archived, ...) is PERMANENT, with Slack's error;
  so is a 3xx (redirects are not followed), a URL that is not https (unless allow_private),
  and a host Backbeat may not reach (a private address, unless allow_private);
- a 429 (rate limited), a 5xx, a name that does not resolve or a connection that could not
  be made is TEMPORARY: nothing was posted;
- no answer within the timeout, or a connection lost once the request was on its way, is
  UNCONFIRMED: it may have been posted.

As for webhooks (worker.webhooks), the connection goes to the address that was checked
(pinned), and only the start of the answer is read. The URL is a secret (its path is the
token): no detail carries it, only its host.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from backbeat import __version__
from backbeat.domain.deliveries import SendOutcome, SendResult
from backbeat.worker.pinned_http import Resolver, post_pinned, resolve

RESPONSE_CAP = 4096  # bytes of an answer read, at most
ERROR_CAP = 100  # characters of Slack's error string kept in a detail


def _said(body: bytes) -> str:
    """Slack's error string: the answer's first line, printable characters only, capped."""
    lines = body.decode("utf-8", errors="replace").strip().splitlines()
    first = "".join(char for char in (lines[0] if lines else "") if char.isprintable())
    return first[:ERROR_CAP].strip()


def _scrub(detail: str, url: str, target: httpx.URL | None) -> str:
    """The detail without the URL, its path or its path's secret parts."""
    secrets = [url]
    if target is not None:
        secrets += [str(target), target.raw_path.decode("ascii", "replace"), target.path]
        secrets += [part for part in target.path.split("/")[2:] if len(part) >= 4]
    for secret in sorted({each for each in secrets if len(each) > 1}, key=len, reverse=True):
        detail = detail.replace(secret, "…")
    return detail


class SlackPoster:
    def __init__(
        self, *, allow_private: bool, timeout_seconds: float, resolver: Resolver = resolve
    ) -> None:
        self.allow_private = allow_private  # loopback, http: tests and private relays
        self.timeout_seconds = timeout_seconds
        self._resolver = resolver

    async def post(self, url: str, payload: dict[str, Any]) -> SendResult:
        try:
            target: httpx.URL | None = httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError):
            target = None
        result = await self._post(url, target, payload)
        return SendResult(result.outcome, _scrub(result.detail, url, target))

    async def _post(
        self, url: str, target: httpx.URL | None, payload: dict[str, Any]
    ) -> SendResult:
        if target is None or target.scheme not in ("http", "https") or not target.host:
            return SendResult(SendOutcome.PERMANENT, "the Slack webhook URL is not valid")
        host = target.host
        if target.scheme != "https" and not self.allow_private:
            return SendResult(
                SendOutcome.PERMANENT, f"refused: the Slack webhook URL for {host} is not https"
            )
        try:
            body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            return SendResult(SendOutcome.PERMANENT, f"the message is not JSON: {exc}"[:200])
        headers = {
            "content-type": "application/json; charset=utf-8",
            "accept-encoding": "identity",
            "user-agent": f"Backbeat/{__version__} (slack)",
        }

        async def send(client: httpx.AsyncClient, request: httpx.Request) -> SendResult:
            return await self._send(client, request, host)

        return await post_pinned(
            target,
            body,
            headers,
            allow_private=self.allow_private,
            resolver=self._resolver,
            what="Slack webhooks",
            timeout_seconds=self.timeout_seconds,
            send=send,
        )

    async def _send(
        self, client: httpx.AsyncClient, request: httpx.Request, host: str
    ) -> SendResult:
        try:
            response = await client.send(request, stream=True)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            raise  # nothing was sent: the next address, or TEMPORARY
        except httpx.PoolTimeout:
            return SendResult(SendOutcome.TEMPORARY, f"no connection to {host} was free")
        except httpx.TimeoutException:
            return SendResult(
                SendOutcome.UNCONFIRMED,
                f"no answer from {host} within {self.timeout_seconds:g} s: it may have been posted",
            )
        except httpx.HTTPError as exc:
            return SendResult(
                SendOutcome.UNCONFIRMED,
                f"the connection to {host} failed once the message was on its way "
                f"({type(exc).__name__}): it may have been posted",
            )
        answer = b""
        try:
            async with asyncio.timeout(self.timeout_seconds):
                async for chunk in response.aiter_raw():
                    answer += chunk
                    if len(answer) >= RESPONSE_CAP:
                        break
        except (httpx.HTTPError, TimeoutError):
            pass  # the status line is what counts
        finally:
            await response.aclose()
        return self._verdict(response, _said(answer[:RESPONSE_CAP]), host)

    @staticmethod
    def _verdict(response: httpx.Response, said: str, host: str) -> SendResult:
        status = response.status_code
        where = f"HTTP {status} from {host}"
        if 200 <= status < 300:
            return SendResult(SendOutcome.ACCEPTED, where)
        if status == 429:
            wait = response.headers.get("retry-after", "").strip()
            later = f" (retry after {wait} s)" if wait.isdigit() and len(wait) <= 6 else ""
            return SendResult(SendOutcome.TEMPORARY, f"{where}: rate limited{later}")
        if 300 <= status < 400:
            return SendResult(SendOutcome.PERMANENT, f"{where}: a redirect, not followed")
        if 400 <= status < 500:
            return SendResult(SendOutcome.PERMANENT, f"{where}: {said or 'no error given'}")
        return SendResult(SendOutcome.TEMPORARY, f"{where}: {said}" if said else where)
