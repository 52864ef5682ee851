"""Registered MCP servers in memory (the contract of domain.ports.McpServerRepository, as
backbeat/store/mcp_servers.py keeps it on SQL)."""

from __future__ import annotations

from collections.abc import Iterable

from backbeat.domain.mcp_servers import McpServer
from backbeat.testing.memory_tables import Transaction, require, stored


class MemoryMcpServerRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, server: McpServer) -> bool:
        row = stored(server)
        # The SQL table's CHECK: one transport, a URL or a command.
        require((row.url is None) != (row.command is None), "one of url and command")
        tables = self._tx.write()
        if row.name in tables.mcp_servers:
            return False
        tables.mcp_servers[row.name] = row
        return True

    def get(self, name: str) -> McpServer | None:
        return self._tx.read().mcp_servers.get(name)

    def named(self, names: Iterable[str]) -> dict[str, McpServer]:
        table = self._tx.read().mcp_servers
        return {name: table[name] for name in set(names) if name in table}

    def all(self) -> list[McpServer]:
        return sorted(self._tx.read().mcp_servers.values(), key=lambda server: server.name)

    def delete(self, name: str) -> bool:
        return self._tx.write().mcp_servers.pop(name, None) is not None
