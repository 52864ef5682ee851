"""`backbeat tasks create|update` options for a task's agent settings (its tools, cost cap
and per-call limits; domain.agent_settings), as the API's request fields."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backbeat.cli.common import fail

ToolsOption = Annotated[
    str | None,
    typer.Option(
        "--tools",
        help="Comma-separated tools the model may use (read_artist_profile, "
        "read_previous_outputs, fetch_web_page, web_search, send_email, SERVER/tool); "
        "'default' for the built-ins, 'none' for no tools.",
    ),
]
CostOption = Annotated[
    str | None,
    typer.Option(
        "--max-run-cost-usd",
        help="The most one run may spend on model calls, in USD; 'none' removes the cap.",
    ),
]
OutputTokensOption = Annotated[
    int | None, typer.Option(help="The most tokens one model answer may have.")
]
ModelTimeoutOption = Annotated[
    float | None, typer.Option(help="How long one model call may take, in seconds.")
]


def agent_fields(
    tools: str | None,
    cost: str | None,
    max_output_tokens: int | None,
    model_timeout_seconds: float | None,
) -> dict[str, Any]:
    """The request fields the options gave (none when none was given)."""
    fields: dict[str, Any] = {}
    if tools is not None:
        names = [name.strip() for name in tools.split(",") if name.strip()]
        fields["tools"] = None if names == ["default"] else [] if names == ["none"] else names
    if cost is not None:
        if cost.strip().lower() == "none":
            fields["max_run_cost_usd"] = None
        else:
            try:
                fields["max_run_cost_usd"] = float(cost)
            except ValueError:
                raise fail("--max-run-cost-usd takes an amount in USD, or none", 2) from None
    if max_output_tokens is not None:
        fields["max_output_tokens"] = max_output_tokens
    if model_timeout_seconds is not None:
        fields["model_timeout_seconds"] = model_timeout_seconds
    return fields
