"""MCP servers an operator registered: tasks list their tools as `SERVER/tool` (the task's
`tools`, domain.agent_settings) and workers connect to them. Pure rules, no framework.

A server is reached over Streamable HTTP (`url`, with headers such as an Authorization
header, whose values are sealed at rest) or over stdio (`command`: a process each worker
starts and keeps). It is open to every account, or only to members of the organizations it
names. Servers are the operator's: their addresses are not checked against private ones.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from uuid import UUID

from backbeat.domain.errors import InvalidInput

# The server part of a `SERVER/tool` name (domain.agent_settings.MCP_TOOL).
NAME = re.compile(r"^[A-Za-z0-9_-]{1,40}$")
# An HTTP header name (a token, RFC 9110).
HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
MAX_HEADERS = 20
MAX_HEADER_VALUE = 8_000
MAX_URL = 2_048
MAX_COMMAND = 4_000
# Set by the MCP client itself: a registered value would break the protocol.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "accept", "mcp-session-id", "mcp-protocol-version"}
)


@dataclass(frozen=True, slots=True)
class McpServer:
    name: str
    url: str | None  # Streamable HTTP
    command: str | None  # stdio: the command line (shell words, not run by a shell)
    # (name, value) pairs sent with every HTTP request: the values sealed at rest
    # (domain.ports.SecretBox), opened only for the worker that connects.
    headers: tuple[tuple[str, str], ...]
    organization_ids: tuple[UUID, ...] | None  # None: open to every account
    created_at: datetime

    @property
    def transport(self) -> str:
        return "http" if self.url is not None else "stdio"

    @property
    def header_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.headers)

    @property
    def argv(self) -> list[str]:
        """The stdio command as the program and its arguments."""
        return shlex.split(self.command or "")

    def open_to(self, organizations: Iterable[UUID]) -> bool:
        """Whether a member of `organizations` (an account's) may use it."""
        if self.organization_ids is None:
            return True
        return not set(self.organization_ids).isdisjoint(organizations)


def checked_name(name: str) -> str:
    # No "__": the model sees SERVER__tool, which must name one server's tool only.
    if NAME.match(name) is None or "__" in name:
        raise InvalidInput(
            f"an MCP server's name is 1 to 40 letters, digits, '_' or '-' (no '__'), not {name!r}",
            path=["name"],
        )
    return name


def checked_url(url: str) -> str:
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL:
        raise InvalidInput(
            f"an MCP server's URL is an http:// or https:// address, not {url!r}", path=["url"]
        )
    if parts.username is not None or parts.password is not None:
        # The URL is stored and listed as it is: credentials go in a --header (sealed).
        raise InvalidInput(
            "an MCP server's URL must not carry credentials: give them as a --header",
            path=["url"],
        )
    return url


def checked_command(command: str) -> str:
    command = command.strip()
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise InvalidInput(f"cannot read the command: {exc}", path=["command"]) from None
    if not words or len(command) > MAX_COMMAND:
        raise InvalidInput("the command of a stdio MCP server is empty", path=["command"])
    return command


def parsed_header(given: str, index: int = 0) -> tuple[str, str]:
    """`Name: value` as (name, value)."""
    name, colon, value = given.partition(":")
    name, value = name.strip(), value.strip()
    where: list[str | int] = ["headers", index]
    if not colon or HEADER_NAME.match(name) is None:
        raise InvalidInput("a header is given as 'Name: value'", path=where)
    if name.lower() in RESERVED_HEADERS:
        raise InvalidInput(f"the MCP client sets {name} itself", path=where)
    # Visible ASCII, spaces and tabs only (RFC 9110 field values): anything else would make
    # the HTTP library fail later, quoting the secret in its error.
    if (
        not value
        or len(value) > MAX_HEADER_VALUE
        or not all(c == "\t" or " " <= c <= "~" for c in value)
    ):
        raise InvalidInput(f"the value of {name} is empty or not a header value", path=where)
    return name, value


def parsed_headers(given: Iterable[str]) -> tuple[tuple[str, str], ...]:
    found: dict[str, tuple[str, str]] = {}
    for index, each in enumerate(given):
        name, value = parsed_header(each, index)
        if name.lower() in found:
            raise InvalidInput(f"the header {name} is given twice", path=["headers", index])
        found[name.lower()] = (name, value)
    if len(found) > MAX_HEADERS:
        raise InvalidInput(f"at most {MAX_HEADERS} headers", path=["headers"])
    return tuple(found.values())
