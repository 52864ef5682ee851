"""`backbeat tasks …`: manage an account's tasks from a shell, acting for the account named
with `--account` (see backbeat.cli.acting); `--json` prints the API's objects."""

from __future__ import annotations

import sys
from typing import Annotated, Any
from uuid import UUID

import typer

from backbeat.cli.acting import ActingAccount, acting_for, checked
from backbeat.cli.agent_options import (
    CostOption,
    ModelTimeoutOption,
    OutputTokensOption,
    ToolsOption,
    agent_fields,
)
from backbeat.cli.common import JsonFlag, emit, fail, parse_uuid
from backbeat.cli.printing import clipped, print_json, short_utc, table
from backbeat.domain.errors import NotFound
from backbeat.edge.requests import CreateTaskRequest, UpdateTaskRequest
from backbeat.edge.serialize import run_json, task_json
from backbeat.services.tasks import TaskView

TITLE_WIDTH = 40

tasks_app = typer.Typer(
    help="Tasks of an account: list, create, update, delete, run now.", no_args_is_help=True
)

TaskIdArgument = Annotated[UUID, typer.Argument(metavar="TASK_ID", parser=parse_uuid("TASK_ID"))]


def read_prompt(prompt: str | None) -> str | None:
    """`--prompt -` reads the prompt from standard input."""
    return sys.stdin.read() if prompt == "-" else prompt


def only_given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def task_row(view: TaskView) -> list[str]:
    task = view.task
    last = view.recent_runs[0].status.value if view.recent_runs else "-"
    return [
        str(task.id),
        clipped(task.title, TITLE_WIDTH),
        task.schedule,
        task.timezone,
        "yes" if task.is_active else "no",
        short_utc(view.upcoming[0] if view.upcoming else None),
        last,
    ]


TASK_HEADERS = ["ID", "TITLE", "SCHEDULE", "TIMEZONE", "ENABLED", "NEXT FIRE (UTC)", "LAST RUN"]


@tasks_app.command("list")
def tasks_list(
    account: ActingAccount,
    artist: Annotated[
        UUID | None,
        typer.Option("--artist", parser=parse_uuid("--artist"), help="Only this artist's tasks."),
    ] = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enabled/--disabled", help="Only enabled (or only paused) tasks."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of the API's task objects.")
    ] = False,
) -> None:
    """List the account's tasks, newest first."""
    with acting_for(account) as (backbeat, caller):
        views = backbeat.tasks.list_tasks(caller, artist_account_id=artist, enabled=enabled)
    if as_json:
        print_json([task_json(view) for view in views])
    elif views:
        table(TASK_HEADERS, [task_row(view) for view in views])
    else:
        typer.echo("no tasks", err=True)


@tasks_app.command("show")
def tasks_show(task_id: TaskIdArgument, account: ActingAccount, as_json: JsonFlag = False) -> None:
    """Show one task: its prompt, next fire times and recent runs."""
    with acting_for(account) as (backbeat, caller):
        views = backbeat.tasks.list_tasks(caller, task_id=task_id)
        if not views:
            raise NotFound("Task not found")
    [view] = views
    if as_json:
        print_json(task_json(view))
        return
    task = view.task
    lines = [
        f"task        {task.id}",
        f"title       {task.title}",
        f"artist      {task.artist_account_id}",
        f"schedule    {task.schedule} ({task.timezone})",
        f"enabled     {'yes' if task.is_active else 'no'}",
        f"model       {task.model or '(server default)'}",
        f"created     {short_utc(task.created_at)} UTC",
        f"updated     {short_utc(task.updated_at)} UTC",
        "upcoming    " + (", ".join(short_utc(at) for at in view.upcoming) or "-"),
        "recent runs " + (", ".join(f"{r.id} {r.status.value}" for r in view.recent_runs) or "-"),
        "prompt",
        *(f"  {line}" for line in task.prompt.splitlines()),
    ]
    typer.echo("\n".join(lines))


Deliver = Annotated[
    str | None,
    typer.Option(
        "--deliver",
        help="Send each completed run's report: always, changed (only when it differs in "
        "substance from the last one sent), never (keep it on the run page), "
        "or off (update only: no delivery setting).",
    ),
]
Emails = Annotated[
    list[str] | None,
    typer.Option("--email", help="Email the report to this team address (repeatable)."),
]
SlackUrl = Annotated[
    str | None, typer.Option("--slack-url", help="Post the report to this Slack incoming webhook.")
]
PauseAfter = Annotated[
    int | None,
    typer.Option(help="Pause the task after this many failed runs in a row."),
]


@tasks_app.command("create")
def tasks_create(
    account: ActingAccount,
    artist: Annotated[str, typer.Option("--artist", help="The artist's id (artist_account_id).")],
    title: Annotated[str, typer.Option()],
    prompt: Annotated[
        str, typer.Option(help="What the agent is asked to do; - reads it from stdin.")
    ],
    schedule: Annotated[str, typer.Option(help="Cron expression, e.g. '0 9 * * 4', or @daily.")],
    timezone: Annotated[
        str | None, typer.Option(help="IANA time zone the cron is evaluated in (default UTC).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model to run (default: the server's).")] = None,
    misfire_grace_seconds: Annotated[
        int | None,
        typer.Option(help="Catch-up window after downtime, seconds (default: the server's)."),
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts per run before it fails (default: the server's).")
    ] = None,
    deliver: Deliver = None,
    email: Emails = None,
    slack_url: SlackUrl = None,
    pause_after_failures: PauseAfter = None,
    tools: ToolsOption = None,
    max_run_cost_usd: CostOption = None,
    max_output_tokens: OutputTokensOption = None,
    model_timeout_seconds: ModelTimeoutOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's task object.")] = False,
) -> None:
    """Create a task (enabled); prints its id."""
    if deliver == "off":
        raise fail("--deliver off is for `tasks update`: a new task delivers nothing by itself", 2)
    delivery: dict[str, Any] | None = None
    if deliver or email or slack_url:
        delivery = {"when": deliver or "always", "email": email or []}
        if slack_url:
            delivery["slack"] = {"webhook_url": slack_url}
    body = only_given(
        title=title,
        prompt=read_prompt(prompt),
        schedule=schedule,
        artist_account_id=artist,
        timezone=timezone,
        model=model,
        misfire_grace_seconds=misfire_grace_seconds,
        max_attempts=max_attempts,
        delivery=delivery,
        pause_after_failures=pause_after_failures,
    )
    body.update(agent_fields(tools, max_run_cost_usd, max_output_tokens, model_timeout_seconds))
    draft = checked(CreateTaskRequest, body).draft()
    with acting_for(account) as (backbeat, caller):
        view = backbeat.tasks.create(caller, draft)
    emit(as_json, task_json(view), str(view.task.id))


@tasks_app.command("update")
def tasks_update(
    task_id: TaskIdArgument,
    account: ActingAccount,
    title: Annotated[str | None, typer.Option()] = None,
    prompt: Annotated[str | None, typer.Option(help="- reads it from stdin.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Cron expression.")] = None,
    timezone: Annotated[str | None, typer.Option(help="IANA time zone.")] = None,
    model: Annotated[str | None, typer.Option()] = None,
    artist: Annotated[
        str | None, typer.Option("--artist", help="Move the task to this artist.")
    ] = None,
    enabled: Annotated[
        bool | None,
        typer.Option("--enable/--disable", help="Resume or pause the schedule."),
    ] = None,
    misfire_grace_seconds: Annotated[int | None, typer.Option()] = None,
    max_attempts: Annotated[int | None, typer.Option()] = None,
    deliver: Deliver = None,
    email: Emails = None,
    slack_url: SlackUrl = None,
    no_slack: Annotated[
        bool, typer.Option("--no-slack", help="Stop posting reports to Slack.")
    ] = False,
    pause_after_failures: PauseAfter = None,
    tools: ToolsOption = None,
    max_run_cost_usd: CostOption = None,
    max_output_tokens: OutputTokensOption = None,
    model_timeout_seconds: ModelTimeoutOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's task object.")] = False,
) -> None:
    """Change some of a task's fields (the others stay as they are)."""
    delivery: dict[str, Any] | None = None
    delivering = bool(deliver or email or slack_url or no_slack)
    if delivering and deliver != "off":
        with acting_for(account) as (backbeat, caller):
            [current] = backbeat.tasks.list_tasks(caller, task_id=task_id)
        now = task_json(current)["delivery"] or {}
        delivery = {
            "when": deliver or now.get("when") or "always",
            "email": email if email else now.get("email", []),
        }
        if slack_url:
            delivery["slack"] = {"webhook_url": slack_url}
        elif no_slack:
            delivery["slack"] = None
    changes = only_given(
        title=title,
        prompt=read_prompt(prompt),
        schedule=schedule,
        timezone=timezone,
        model=model,
        artist_account_id=artist,
        enabled=enabled,
        misfire_grace_seconds=misfire_grace_seconds,
        max_attempts=max_attempts,
        pause_after_failures=pause_after_failures,
    )
    changes.update(agent_fields(tools, max_run_cost_usd, max_output_tokens, model_timeout_seconds))
    if delivering:
        changes["delivery"] = delivery  # None: --deliver off removes the setting
    if not changes:
        raise fail(
            "nothing to change: give at least one of --title, --prompt, --schedule, "
            "--timezone, --model, --artist, --enable/--disable, --deliver, --email, "
            "--slack-url, --no-slack, --pause-after-failures, --tools, --max-run-cost-usd, "
            "--max-output-tokens, --model-timeout-seconds",
            2,
        )
    patch = checked(UpdateTaskRequest, {"id": str(task_id), **changes}).patch()
    with acting_for(account) as (backbeat, caller):
        view = backbeat.tasks.update(caller, task_id, patch)
    emit(as_json, task_json(view), f"updated {view.task.id}")


@tasks_app.command("delete")
def tasks_delete(task_id: TaskIdArgument, account: ActingAccount) -> None:
    """Delete a task for good; its runs stay readable (`backbeat runs list`)."""
    with acting_for(account) as (backbeat, caller):
        backbeat.tasks.delete(caller, task_id)
    typer.echo(f"deleted {task_id}")


@tasks_app.command("run")
def tasks_run(
    task_id: TaskIdArgument,
    account: ActingAccount,
    test: Annotated[bool, typer.Option("--test", help="Mark the run as a test run.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's run object.")] = False,
) -> None:
    """Run a task now (paused tasks too); prints the run id. A worker picks it up."""
    with acting_for(account) as (backbeat, caller):
        run = backbeat.runs.trigger(caller, task_id, is_test=test)
    emit(as_json, run_json(run, full=True), run.id)
