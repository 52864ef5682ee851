"""The MCP servers an operator registers (`backbeat mcp-servers …`), whose tools tasks list
as `SERVER/tool`; the check that a task's owner may use them; and what a worker needs to
connect to them. The rules are domain.mcp_servers'; the connecting is the worker's
(agents.tools.mcp_client).

Header values (an Authorization header, an API key) are sealed before they are stored
(domain.ports.SecretBox) and opened only for a worker's connection: listings show their names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from uuid import UUID

from backbeat.domain import mcp_servers as rules
from backbeat.domain.agent_settings import MCP_TOOL
from backbeat.domain.clock import Clock
from backbeat.domain.errors import Conflict, InvalidInput, NotFound
from backbeat.domain.mcp_servers import McpServer
from backbeat.domain.ports import SecretBox, UnitOfWork

log = logging.getLogger("backbeat.mcp_servers")

UnitOfWorkFactory = Callable[..., UnitOfWork]


def reach(
    uow: UnitOfWork, owner: UUID, scope: tuple[UUID, ...] | Sequence[UUID] | None
) -> list[UUID]:
    """The organizations through which a task of `owner` may use restricted servers: the
    owner's, narrowed to the task's scope when someone acting through a shared organization
    made it (services.access: a task never reaches further than that organization)."""
    organizations = [org.id for org in uow.accounts.organizations_of(owner)]
    return organizations if scope is None else [each for each in organizations if each in scope]


def check_mcp_tools(
    uow: UnitOfWork,
    owner: UUID,
    tools: Sequence[str],
    scope: tuple[UUID, ...] | None = None,
) -> None:
    """Each `SERVER/tool` name in a task's tools names a registered server its owner may use:
    open to every account, or to an organization the owner is a member of (within `scope`,
    the task's). Whether the server has the tool is the worker's to find out at run time
    (servers change)."""
    wanted = [(index, MCP_TOOL.match(name)) for index, name in enumerate(tools)]
    named = {index: match["server"] for index, match in wanted if match is not None}
    if not named:
        return
    found = uow.mcp_servers.named(named.values())
    organizations: list[UUID] | None = None
    for index, server_name in named.items():
        server = found.get(server_name)
        if server is None:
            raise InvalidInput(
                f"no MCP server named {server_name!r} is registered", path=["tools", index]
            )
        if organizations is None:
            organizations = reach(uow, owner, scope)
        if not server.open_to(organizations):
            raise InvalidInput(
                f"the MCP server {server_name!r} is open only to members of its "
                "organizations, and the task's owner is not one",
                path=["tools", index],
            )


def listed(server: McpServer) -> McpServer:
    """The server as it is shown: its header names, never their values."""
    return replace(server, headers=tuple((name, "") for name in server.header_names))


class McpServerService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, box: SecretBox) -> None:
        self._uow = uow
        self._clock = clock
        self._box = box

    def add(
        self,
        name: str,
        *,
        url: str | None = None,
        command: str | None = None,
        headers: Iterable[str] = (),
        organizations: Iterable[UUID] = (),
    ) -> McpServer:
        """Register a server reached over Streamable HTTP (`url`, `headers` as 'Name: value')
        or stdio (`command`); open to every account unless `organizations` are given."""
        rules.checked_name(name)
        if (url is None) == (command is None):
            raise InvalidInput("give the server's URL (Streamable HTTP) or its command (stdio)")
        pairs = rules.parsed_headers(headers)
        if command is not None and pairs:
            raise InvalidInput("headers are sent over HTTP: a stdio server takes none")
        orgs = tuple(dict.fromkeys(organizations))
        server = McpServer(
            name=name,
            url=None if url is None else rules.checked_url(url),
            command=None if command is None else rules.checked_command(command),
            headers=tuple((header, self._box.seal(value)) for header, value in pairs),
            organization_ids=orgs or None,
            created_at=self._clock.now(),
        )
        with self._uow(write=True) as uow:
            for org in orgs:
                if uow.accounts.get_organization(org) is None:
                    raise NotFound(f"Organization {org} not found")
            if not uow.mcp_servers.add(server):
                raise Conflict(f"an MCP server named {name!r} is registered already")
            uow.commit()
        log.info(
            "MCP server registered",
            extra={"event": "mcp_server.added", "server": name, "transport": server.transport},
        )
        return listed(server)

    def all(self) -> list[McpServer]:
        """Every registered server, by name."""
        with self._uow() as uow:
            return [listed(server) for server in uow.mcp_servers.all()]

    def remove(self, name: str) -> None:
        """Unregister it. Tasks that list its tools fail at their next run (ToolUnavailable)
        until it is registered again or they stop listing them."""
        with self._uow(write=True) as uow:
            if not uow.mcp_servers.delete(name):
                raise NotFound(f"no MCP server named {name!r} is registered")
            uow.commit()
        log.info("MCP server removed", extra={"event": "mcp_server.removed", "server": name})

    def usable(
        self,
        account_id: UUID,
        names: Iterable[str],
        scope: tuple[UUID, ...] | None = None,
    ) -> dict[str, McpServer]:
        """For a worker: those of these servers the account may use now, header values
        opened. One that is missing was removed, or the account lost access, since the task
        was saved."""
        with self._uow() as uow:
            found = uow.mcp_servers.named(names)
            if not found:
                return {}
            organizations = reach(uow, account_id, scope)
        return {
            name: replace(
                server, headers=tuple((h, self._box.open(value)) for h, value in server.headers)
            )
            for name, server in found.items()
            if server.open_to(organizations)
        }
