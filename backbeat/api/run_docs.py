"""What /openapi.json says about /api/tasks/runs: listing and reading runs, running a task
now and canceling a run (the last two Backbeat extensions)."""

from __future__ import annotations

from typing import Any

from backbeat.api.docs import _BODY_ERRORS, _COMMON_ERRORS, _UUID, _body, _error, _ok, _query
from backbeat.domain.runs import RunStatus
from backbeat.edge.extension import EXTENSION

LIST_RUNS: dict[str, Any] = {
    "summary": "Retrieve or list task runs",
    "description": "With runId: that run in full (payload, output, error, attempts). Without "
    "runId: the caller's recent runs, newest first, without payload/output/error/attempts.",
    "responses": {
        200: _ok("Runs", "TaskRunsResponse"),
        400: _error("Invalid query"),
        **_COMMON_ERRORS,
        404: _error("Task run not found"),
    },
    "openapi_extra": {
        "parameters": [
            _query("runId", "A run id (`run_…`). Absent or blank lists runs.", {"type": "string"}),
            _query(
                "account_id", "List runs of this account, when the caller may act for it.", _UUID
            ),
            _query(
                "limit",
                "Page size.",
                {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
            ),
            {**_query("task_id", "Extension: only this task's runs.", _UUID), **EXTENSION},
            {
                **_query(
                    "status",
                    "Extension: only runs in this status.",
                    {"type": "string", "enum": [status.value for status in RunStatus]},
                ),
                **EXTENSION,
            },
            {
                **_query(
                    "cursor", "Extension: `next_cursor` of the previous page.", {"type": "string"}
                ),
                **EXTENSION,
            },
        ]
    },
}


TRIGGER_RUN: dict[str, Any] = {
    "summary": "Run a task now (extension)",
    "description": "Queue a run of the task at once, scheduled or paused alike. Answers the run "
    "in full (`trigger: manual`); follow it with GET /api/tasks/runs?runId=….",
    "responses": {
        200: _ok("The queued run", "TaskRunsResponse"),
        **_BODY_ERRORS,
        **_COMMON_ERRORS,
        404: _error("Task not found"),
    },
    "openapi_extra": {**_body("TriggerRunRequest", "The task to run"), **EXTENSION},
}

CANCEL_RUN: dict[str, Any] = {
    "summary": "Cancel a run (extension)",
    "description": "Cancel a queued, waiting (REATTEMPTING) or executing run: it ends CANCELED "
    "and a worker running it stops. A finished run answers 409.",
    "responses": {
        200: _ok("The canceled run", "TaskRunsResponse"),
        **_BODY_ERRORS,
        **_COMMON_ERRORS,
        404: _error("Task run not found"),
        409: _error("The run has already finished"),
    },
    "openapi_extra": {**_body("CancelRunRequest", "The run to cancel"), **EXTENSION},
}
