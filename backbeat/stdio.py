"""The MCP server over this process's stdin and stdout, as `backbeat mcp` runs it.

Assembled here, outside the front doors, as the ASGI app is in backbeat.asgi: the CLI starts
it without importing another front door.
"""

from __future__ import annotations

import anyio

from backbeat.edge.credentials import check_key
from backbeat.mcp.auth import KEY_VARIABLE
from backbeat.mcp.server import serve_stdio
from backbeat.wiring import Backbeat

__all__ = ["KEY_VARIABLE", "serve"]


def serve(backbeat: Backbeat, key: str) -> None:
    """Check the key first (NotAuthenticated when it is refused, before any MCP message),
    then serve as its account until stdin closes."""
    check_key(backbeat, key)
    anyio.run(serve_stdio, backbeat, key)
