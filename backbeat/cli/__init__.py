"""The `backbeat` command, assembled from its parts: the processes and operator commands, the
admin commands (accounts, orgs, artists, keys), and tasks, runs and webhooks."""

from __future__ import annotations

import typer

from backbeat.cli import admin, mcp, mcp_servers, processes, runs, tasks, webhooks
from backbeat.cli.common import main_options

app = typer.Typer(help="Backbeat: scheduled AI-agent tasks for music teams.", no_args_is_help=True)
app.callback()(main_options)
app.add_typer(processes.app)  # version, migrate, serve, worker, scheduler, doctor
app.add_typer(admin.accounts_app, name="accounts")
app.add_typer(admin.orgs_app, name="orgs")
app.add_typer(admin.artists_app, name="artists")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(tasks.tasks_app, name="tasks")
app.add_typer(runs.runs_app, name="runs")
app.add_typer(webhooks.webhooks_app, name="webhooks")
app.add_typer(mcp_servers.mcp_servers_app, name="mcp-servers")
app.add_typer(mcp.app)  # mcp: the MCP server over stdio


def main() -> None:
    app()
