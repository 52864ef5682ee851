"""Registered MCP servers (domain.mcp_servers). Header values arrive sealed (services.
mcp_servers seals them with the server's key before they reach the store) and are stored as
given."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from backbeat.domain.mcp_servers import McpServer
from backbeat.store.tables import mcp_servers


class SqlMcpServerRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, server: McpServer) -> bool:
        dialect = postgresql if self._db.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(mcp_servers)
            .values(**_values(server))
            .on_conflict_do_nothing(index_elements=[mcp_servers.c.name])
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT's rowcount here.
            .returning(mcp_servers.c.name)
        )
        return self._db.execute(statement).first() is not None

    def get(self, name: str) -> McpServer | None:
        row = self._db.execute(select(mcp_servers).where(mcp_servers.c.name == name)).first()
        return None if row is None else _from_row(row)

    def named(self, names: Iterable[str]) -> dict[str, McpServer]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        query = select(mcp_servers).where(mcp_servers.c.name.in_(wanted))
        return {row.name: _from_row(row) for row in self._db.execute(query)}

    def all(self) -> list[McpServer]:
        query = select(mcp_servers).order_by(mcp_servers.c.name)
        return [_from_row(row) for row in self._db.execute(query)]

    def delete(self, name: str) -> bool:
        query = delete(mcp_servers).where(mcp_servers.c.name == name).returning(mcp_servers.c.name)
        return self._db.execute(query).first() is not None


def _values(server: McpServer) -> dict[str, Any]:
    return {
        "name": server.name,
        "url": server.url,
        "command": server.command,
        "headers": [[name, value] for name, value in server.headers],
        "organization_ids": (
            None
            if server.organization_ids is None
            else [str(each) for each in server.organization_ids]
        ),
        "created_at": server.created_at,
    }


def _from_row(row: Any) -> McpServer:
    return McpServer(
        name=row.name,
        url=row.url,
        command=row.command,
        headers=tuple((str(name), str(value)) for name, value in row.headers),
        organization_ids=(
            None
            if row.organization_ids is None
            else tuple(UUID(each) for each in row.organization_ids)
        ),
        created_at=row.created_at,
    )
