"""What the tools and their arguments say to the model using them."""

from __future__ import annotations

_TASK = (
    "A task object has: `id`; `title`; `prompt`; `schedule` (cron) and `timezone` (the cron "
    "is evaluated in that IANA zone, DST-aware); `enabled`; `upcoming` (the next 5 times it "
    "will fire, ISO 8601 in UTC; empty while paused); `recent_runs` (its last 5 runs, "
    "newest first); `artist_account_id` and `artist_name`; `account_id` and `owner_email`; "
    "`model` (null: the server's default)."
)
_PLAN = (
    " The owner's plan may cap how many tasks are enabled and how often one may fire; a "
    'refusal is an error whose `error` is "plan_limit" and whose message says which limit.'
)
_RUN = (
    "A run has `id` (`run_…`), `status` (QUEUED, EXECUTING, REATTEMPTING, COMPLETED, FAILED, "
    "CRASHED, SYSTEM_FAILURE, CANCELED…), `taskId`, `title` (its task's title), "
    "`email_subject` (of the report it emailed, if any), `createdAt`, `startedAt`, "
    "`finishedAt` (UTC)."
)

CREATE_TASK = (
    "Create a scheduled task: on every fire of `schedule` an AI agent carries out `prompt` "
    "for the artist `artist_account_id` (it may read web pages) and emails its report to "
    "the account's team. Put the timing in `schedule` only, never in the prompt. Examples: "
    "'0 9 * * 1' = Mondays at 09:00, '30 8 1 * *' = the 1st of each month at 08:30, both in "
    "`timezone`. Answers {status, tasks: [the new task]}; check `upcoming` to confirm the "
    "fire times. " + _TASK + _PLAN
)
GET_TASKS = (
    "List the tasks of your account (or of `account_id`, an account you may act for), "
    "newest first, optionally filtered; with `id`, just that task (an empty list when it "
    "does not exist or is not yours). Answers {status, tasks: [...]}; with `limit` (or "
    "`cursor`), one page and `next_cursor` for the next (null on the last). " + _TASK
)
UPDATE_TASK = (
    "Change a task. Only `id` is required; fields you leave out keep their values. "
    "`enabled: false` pauses it (it keeps its schedule and timezone), `enabled: true` "
    "resumes it. Changing `schedule` alone keeps the task's timezone. Answers {status, "
    "tasks: [the updated task]}. " + _TASK + _PLAN
)
DELETE_TASK = (
    "Delete a task for good. Its queued or executing runs are canceled; its finished runs "
    "stay readable with get_task_run_status. Answers {status}."
)
GET_TASK_RUN_STATUS = (
    "One run in full by its id: status, attempts (each with its error, if any), `output` "
    "(the agent's final text), `error`, timestamps and `durationMs`. A run still QUEUED or "
    "EXECUTING has not finished; ask again later. Answers {status, runs: [run]}. " + _RUN
)
RUN_TASK_NOW = (
    "Run a task once right now, outside its schedule (paused tasks too); the schedule is "
    "unchanged. The run is queued for a worker: follow it with get_task_run_status. Answers "
    "{status, runs: [the new run]}."
)
CANCEL_RUN = (
    "Cancel a run that is queued, waiting to retry or executing; nothing more is sent for "
    "it. A finished run cannot be canceled. Answers {status, runs: [the canceled run]}."
)
LIST_RUNS = (
    "Recent runs of your account (or of `account_id`), newest first, optionally for one "
    "task or in one status: `limit` (1-100, default 20) per page; pass `next_cursor` back "
    "as `cursor` for older runs (null: no more). Answers {status, runs, next_cursor}. " + _RUN
)

_ACCOUNT = (
    "Optional: act for another account you may act for (one sharing an organization with "
    "you, any for an admin organization). Leave it out to act for your own account."
)

TASK_FIELDS = {
    "title": "A short name for the task.",
    "prompt": (
        "What the agent should do on each run, e.g. 'Summarise this week's news about the "
        "artist and email it to the team'. No timing instructions here."
    ),
    "artist_account_id": "The artist the task is about (an artist of your account).",
    "account_id": _ACCOUNT,
    "model": "Optional model id (e.g. 'anthropic/claude-sonnet-4.5'); the server's default "
    "when left out.",
}
UPDATE_FIELDS = {
    "id": "The task to change.",
    "enabled": "false pauses the task, true resumes it.",
    "account_id": "Optional: the account you act for (not needed to change a task you may "
    "act for).",
}
DELETE_FIELDS = {
    "id": "The task to delete.",
    "account_id": "Optional: the account you act for.",
}
FILTERS = {
    "id": "Only this task.",
    "account_id": "List this account's tasks instead of yours (one you may act for).",
    "artist_account_id": "Only tasks about this artist.",
    "enabled": "Only enabled (true) or paused (false) tasks.",
    "limit": "A page of at most this many tasks (1-100); without limit or cursor, every task.",
    "cursor": "`next_cursor` from the previous page (20 a page without limit).",
}
RUN_ID = {"runId": "The run's id (`run_…`), as returned by run_task_now or list_runs."}
RUN_NOW_FIELDS = {
    "task_id": "The task to run.",
    "account_id": "Optional: the account you act for.",
}
RUN_FILTERS = {
    "limit": "How many runs (1-100, default 20).",
    "account_id": "This account's runs instead of yours (one you may act for).",
    "task_id": "Only this task's runs.",
    "status": "Only runs in this status.",
    "cursor": "`next_cursor` from the previous page, for older runs.",
}
