"""`backbeat mcp-servers …`: the MCP servers whose tools tasks may list as `SERVER/tool` (an
operator's command, like `accounts set-plan`).

Header values (an API key, an Authorization header) are sealed under the server secret when
they are stored and never shown again: `list` shows header names only.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import typer

from backbeat.cli.common import JsonFlag, emit, parse_uuid, wired
from backbeat.cli.printing import clipped, print_json, short_utc, table
from backbeat.domain.clock import iso_utc
from backbeat.domain.mcp_servers import McpServer

ADDRESS_WIDTH = 60

mcp_servers_app = typer.Typer(
    help="MCP servers whose tools tasks may use (their `tools`, as SERVER/tool): add, list, "
    "remove.",
    no_args_is_help=True,
)


def server_json(server: McpServer) -> dict[str, Any]:
    return {
        "name": server.name,
        "transport": server.transport,
        "url": server.url,
        "command": server.command,
        "headers": list(server.header_names),
        "organization_ids": (
            None
            if server.organization_ids is None
            else [str(org) for org in server.organization_ids]
        ),
        "created_at": iso_utc(server.created_at),
    }


def _open_to(server: McpServer) -> str:
    if server.organization_ids is None:
        return "every account"
    return "members of " + ", ".join(str(org) for org in server.organization_ids)


@mcp_servers_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="How tasks name it: NAME/tool.")],
    url: Annotated[
        str | None, typer.Option(help="A Streamable HTTP server's endpoint (https://…/mcp).")
    ] = None,
    command: Annotated[
        str | None,
        typer.Option(help="A stdio server's command line; each worker runs one and keeps it."),
    ] = None,
    header: Annotated[
        list[str] | None,
        typer.Option(
            help="'Name: value' sent to an HTTP server with every request (repeatable); the "
            "value is stored encrypted and never shown again."
        ),
    ] = None,
    org: Annotated[
        list[UUID] | None,
        typer.Option(
            parser=parse_uuid("--org"),
            help="Open it only to members of this organization (repeatable); without: to "
            "every account.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Register an MCP server: --url for Streamable HTTP or --command for stdio."""
    with wired(needs_secret=True) as backbeat:
        server = backbeat.mcp_servers.add(
            name, url=url, command=command, headers=header or [], organizations=org or []
        )
    headers = ", ".join(server.header_names) or "none"
    line = (
        f"registered {server.name} ({server.transport}: {server.url or server.command}; "
        f"headers: {headers}; open to {_open_to(server)})"
    )
    emit(as_json, server_json(server), line)


@mcp_servers_app.command("list")
def list_servers(as_json: JsonFlag = False) -> None:
    """The registered MCP servers (header names only)."""
    with wired() as backbeat:
        servers = backbeat.mcp_servers.all()
    if as_json:
        print_json({"mcp_servers": [server_json(server) for server in servers]})
        return
    if not servers:
        typer.echo("no MCP servers registered (backbeat mcp-servers add NAME --url URL)")
        return
    table(
        ["NAME", "TRANSPORT", "ADDRESS", "HEADERS", "ADDED (UTC)", "OPEN TO"],
        [
            [
                server.name,
                server.transport,
                clipped(server.url or server.command or "", ADDRESS_WIDTH),
                ",".join(server.header_names) or "-",
                short_utc(server.created_at),
                _open_to(server),
            ]
            for server in servers
        ],
    )


@mcp_servers_app.command("remove")
def remove(name: Annotated[str, typer.Argument()], as_json: JsonFlag = False) -> None:
    """Unregister an MCP server. Tasks that list its tools fail at their next run until it
    is registered again or they list them no more."""
    with wired() as backbeat:
        backbeat.mcp_servers.remove(name)
    emit(as_json, {"name": name, "removed": True}, f"removed {name}")
