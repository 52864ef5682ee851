"""`backbeat runs …`: list, show and cancel the runs of an account's tasks from a shell,
acting for the account named with `--account` (see backbeat.cli.acting); `--json` prints
the API's objects."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from backbeat.cli.acting import ActingAccount, acting_for
from backbeat.cli.common import JsonFlag, emit, parse_uuid
from backbeat.cli.printing import print_json, short_utc, table
from backbeat.cli.run_report import describe_run
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus
from backbeat.edge.serialize import run_json

RUNS_LIMIT = 20

runs_app = typer.Typer(help="Runs of an account's tasks: list, show, cancel.", no_args_is_help=True)

RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id (run_…).")]


def run_row(run: Run) -> list[str]:
    return [
        run.id,
        run.status.value + (" (test)" if run.is_test else ""),
        run.trigger.value,
        "-" if run.task_id is None else str(run.task_id),
        short_utc(run.created_at),
        f"{run.duration_ms / 1000:.1f}s" if run.duration_ms else "-",
        f"{run.cost_in_cents:.4f}" if run.cost_in_cents else "-",
    ]


RUN_HEADERS = ["ID", "STATUS", "TRIGGER", "TASK", "CREATED (UTC)", "DURATION", "COST (CENTS)"]


@runs_app.command("list")
def runs_list(
    account: ActingAccount,
    task: Annotated[
        UUID | None,
        typer.Option("--task", parser=parse_uuid("--task"), help="Only this task's runs."),
    ] = None,
    status: Annotated[
        RunStatus | None, typer.Option(case_sensitive=False, help="Only runs in this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = (
        RUNS_LIMIT
    ),
    cursor: Annotated[
        str | None, typer.Option(help="Older runs: the cursor the previous page printed.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of the API's run objects.")
    ] = False,
) -> None:
    """List the account's runs, newest first."""
    with acting_for(account) as (backbeat, caller):
        page = backbeat.runs.list_runs(
            caller, limit=limit, task_id=task, status=status, cursor=cursor
        )
    if as_json:
        print_json([run_json(run, full=False) for run in page.runs])
    elif page.runs:
        table(RUN_HEADERS, [run_row(run) for run in page.runs])
    else:
        typer.echo("no runs", err=True)
    if page.next_cursor is not None:
        typer.echo(f"more runs: --cursor {page.next_cursor}", err=True)


@runs_app.command("show")
def runs_show(run_id: RunIdArgument, account: ActingAccount, as_json: JsonFlag = False) -> None:
    """Show a run in full: attempts and their errors, output, tool calls, emails, usage, cost."""
    with acting_for(account) as (backbeat, caller):
        run = backbeat.runs.get(caller, run_id.strip())
    emit(as_json, run_json(run, full=True), "\n".join(describe_run(run)))


@runs_app.command("cancel")
def runs_cancel(run_id: RunIdArgument, account: ActingAccount, as_json: JsonFlag = False) -> None:
    """Cancel a queued, waiting or executing run (a finished one cannot be)."""
    with acting_for(account) as (backbeat, caller):
        run = backbeat.runs.cancel(caller, run_id.strip())
    emit(as_json, run_json(run, full=True), f"canceled {run.id}")
