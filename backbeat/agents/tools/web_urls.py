"""The URLs fetch_web_page accepts, and the redirects it follows: http or https, a host, no
user name or password, not too long. A redirect's target is checked as the first URL was."""

from __future__ import annotations

import httpx

from backbeat.agents.tools.base import ToolError

MAX_URL_LENGTH = 8192


def parse_url(url: str) -> httpx.URL:
    if not isinstance(url, str) or not url.strip():
        raise ToolError("the URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise ToolError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError):
        raise ToolError(f"invalid URL: {url[:200]!r}") from None
    return _checked(parsed, url)


def redirect_target(current: httpx.URL, location: str) -> httpx.URL:
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
