"""`backbeat tasks …` and `backbeat runs …`: manage an account's tasks and runs from a shell.

The CLI acts for the account named with `--account`, with that account's authority, as if it
called the API with one of the account's keys: the same services, the same tenancy rules, the
same validation (and so the same error messages), and `--json` prints the API's objects.
No key is involved, so the caller's key id is the nil UUID (`OPERATOR_KEY_ID`).

"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID

import typer
from pydantic import BaseModel

from backbeat.cli.common import JsonFlag, emit, fail, parse_uuid, wired
from backbeat.domain.cron import ScheduleError
from backbeat.domain.deliveries import run_output
from backbeat.domain.errors import InvalidInput, NotFound
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus
from backbeat.edge.requests import CreateTaskRequest, UpdateTaskRequest
from backbeat.edge.serialize import run_json, task_json
from backbeat.edge.validation import validate
from backbeat.services.keys import Caller
from backbeat.services.tasks import TaskView
from backbeat.wiring import Backbeat

# The key id of every CLI caller: no key is presented, the operator acts with the account's
# authority. Nothing stores or compares key ids of callers, so a fixed value is safe.
OPERATOR_KEY_ID = UUID(int=0)
RUNS_LIMIT = 20
TITLE_WIDTH = 40

tasks_app = typer.Typer(
    help="Tasks of an account: list, create, update, delete, run now.", no_args_is_help=True
)
runs_app = typer.Typer(help="Runs of an account's tasks: list, show, cancel.", no_args_is_help=True)

ActingAccount = Annotated[
    UUID,
    typer.Option(
        "--account",
        envvar="BACKBEAT_ACCOUNT",
        show_envvar=True,
        parser=parse_uuid("--account"),
        help="The account to act for (its id), with that account's authority, as its API key "
        "would.",
    ),
]
TaskIdArgument = Annotated[UUID, typer.Argument(metavar="TASK_ID", parser=parse_uuid("TASK_ID"))]
RunIdArgument = Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id (run_…).")]


ModelT = TypeVar("ModelT", bound=BaseModel)


# ── helpers ──────────────────────────────────────────────────────────────────────────────


def checked(model: type[ModelT], body: dict[str, Any]) -> ModelT:
    """`body` validated as the API validates it: the same first message, as one line."""
    try:
        return validate(model, body)
    except InvalidInput as exc:
        raise fail(exc.message) from None


@contextmanager
def acting_for(account: UUID) -> Iterator[tuple[Backbeat, Caller]]:
    """A wired Backbeat and the caller acting for `account`, which must exist."""
    with wired() as backbeat:
        backbeat.admin.require_account(account)
        try:
            yield backbeat, Caller(account_id=account, key_id=OPERATOR_KEY_ID)
        except ScheduleError as exc:  # validation catches these first; this is a backstop
            raise fail(exc.message) from None


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    for row in [headers, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        typer.echo("  ".join([*cells, row[-1]]).rstrip())


def short_utc(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def clipped(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def read_prompt(prompt: str | None) -> str | None:
    """`--prompt -` reads the prompt from standard input."""
    return sys.stdin.read() if prompt == "-" else prompt


def only_given(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


# ── tasks ────────────────────────────────────────────────────────────────────────────────


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's task object.")] = False,
) -> None:
    """Create a task (enabled); prints its id."""
    body = only_given(
        title=title,
        prompt=read_prompt(prompt),
        schedule=schedule,
        artist_account_id=artist,
        timezone=timezone,
        model=model,
        misfire_grace_seconds=misfire_grace_seconds,
        max_attempts=max_attempts,
    )
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's task object.")] = False,
) -> None:
    """Change some of a task's fields (the others stay as they are)."""
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
    )
    if not changes:
        raise fail(
            "nothing to change: give at least one of --title, --prompt, --schedule, "
            "--timezone, --model, --artist, --enable/--disable",
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


# ── runs ─────────────────────────────────────────────────────────────────────────────────


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


def describe_run(run: Run) -> list[str]:
    """A run for a person to read, most useful first."""
    flags = ", ".join([run.trigger.value, *(["test"] if run.is_test else [])])
    lines = [
        f"run         {run.id}",
        f"status      {run.status.value} ({flags})",
        f"task        {'(deleted)' if run.task_id is None else run.task_id}",
        f"created     {short_utc(run.created_at)} UTC",
    ]
    if run.scheduled_for is not None:
        lines.append(f"scheduled   {short_utc(run.scheduled_for)} UTC")
    if run.started_at is not None:
        lines.append(f"started     {short_utc(run.started_at)} UTC")
    if run.finished_at is not None:
        lines.append(f"finished    {short_utc(run.finished_at)} UTC")
    lines.append(f"duration    {run.duration_ms} ms")
    lines.append(f"cost        {run.cost_in_cents:.4f} cents")
    if run.error:
        lines.append(f"error       {error_text(run.error)}")
    lines.append(f"attempts    {run.attempt_count} (of at most {run.max_attempts})")
    for attempt in run.attempts:
        line = f"  #{attempt.number} {attempt.status.value} {short_utc(attempt.created_at)}"
        if attempt.error:
            line += f"  {error_text(attempt.error)}"
        lines.append(line)
    output = run_output(run.output, run.deliveries)
    if output:
        lines.extend(describe_output(output))
    return lines


def error_text(error: dict[str, Any]) -> str:
    name, message = error.get("name"), error.get("message")
    return f"{name}: {message}" if name else str(message or error)


def describe_output(output: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    model = output.get("provider_model") or output.get("model")
    if model:
        provider = output.get("provider")
        lines.append(f"model       {f'{provider}/' if provider else ''}{model}")
    usage = output.get("usage")
    if isinstance(usage, dict):
        lines.append(
            f"usage       {usage.get('input_tokens', 0)} input tokens, "
            f"{usage.get('output_tokens', 0)} output tokens, "
            f"{usage.get('requests', 0)} requests, {output.get('turns', '?')} turns"
            + ("" if output.get("price_known", True) else " (price unknown)")
        )
    calls = output.get("tool_calls") or []
    lines.append(f"tool calls  {len(calls)}")
    for call in calls:
        arguments = json.dumps(call.get("arguments"), ensure_ascii=False)
        outcome = "error" if call.get("is_error") else "ok"
        result = clipped(str(call.get("result", "")), 100)
        lines.append(f"  {call.get('name')} {clipped(arguments, 80)} → {outcome}: {result}")
    sent = output.get("emails_sent") or []
    refused = output.get("emails_refused") or []
    lines.append(f"emails      {len(sent)} sent, {len(refused)} refused")
    for delivery in output.get("deliveries") or []:
        state = delivery.get("status")
        line = f"  {state} {delivery.get('to')}: {delivery.get('subject')!r}"
        if delivery.get("tries", 0) > 1:
            line += f" after {delivery.get('tries')} tries"
        if state == "pending" and delivery.get("next_try_at"):
            line += f", next try {delivery.get('next_try_at')}"
        if delivery.get("error") and state != "sent":
            line += f" ({delivery.get('error')})"
        lines.append(line)
    for email in refused:
        lines.append(
            f"  refused {email.get('to')}: {email.get('subject')!r} ({email.get('reason')})"
        )
    pages = output.get("pages_fetched") or []
    if pages:
        lines.append(f"pages       {len(pages)} fetched")
        for page in pages:
            lines.append(
                f"  {page.get('url')}" + (f" ({page['error']})" if page.get("error") else "")
            )
    text = output.get("text")
    if text:
        lines.append("output")
        lines.extend(f"  {line}" for line in str(text).splitlines())
    return lines
