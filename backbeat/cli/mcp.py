"""`backbeat mcp`: the MCP server over stdio, for an assistant that starts it as a child."""

from __future__ import annotations

import contextlib
import os

import typer

from backbeat.cli.common import fail, wired
from backbeat.domain.errors import NotAuthenticated

app = typer.Typer()


@app.command("mcp")
def mcp_command() -> None:
    """Serve MCP over stdin and stdout as the account whose API key is in
    BACKBEAT_MCP_API_KEY (Claude Desktop, Cursor and other MCP hosts start this command).
    Only MCP messages go to stdout; logs go to stderr."""
    # Imported here: the MCP SDK takes most of a second to import, and every other command
    # (each a process of its own in scripts and tests) would pay for it.
    from backbeat import stdio

    variable = stdio.KEY_VARIABLE
    key = os.environ.get(variable, "").strip()
    if not key:
        raise fail(f"set {variable} to an API key (`backbeat keys create --account ID`)", 2)
    with wired(needs_secret=True) as backbeat:
        try:
            with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C in a terminal: stop quietly
                stdio.serve(backbeat, key)
        except NotAuthenticated as exc:
            raise fail(f"the key in {variable} was refused: {exc.message}", 2) from None
