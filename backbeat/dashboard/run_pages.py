"""A run's page, the status its script polls while the run can still change, and canceling
it from there."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backbeat.dashboard import present, times
from backbeat.dashboard.dependencies import FormDep, ViewerDep
from backbeat.dashboard.web import DashboardRoute, PageNotFound, page, redirect
from backbeat.domain.clock import iso_utc
from backbeat.domain.deliveries import run_output
from backbeat.domain.errors import Conflict, NotFound
from backbeat.domain.models import Run
from backbeat.domain.report_diff import ReportDiff, diff_reports
from backbeat.domain.runs import RunStatus
from backbeat.edge.context import backbeat
from backbeat.services.lookups import Viewer
from backbeat.wiring import Backbeat

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

RUN_NOT_FOUND = "There is no such run in the accounts you can see."
Comparison = tuple[dict[str, Any], ReportDiff] | None


def _run_id(raw: str) -> str:
    run_id = raw.strip()
    if not run_id or len(run_id) > 100 or "\x00" in run_id:
        raise PageNotFound(RUN_NOT_FOUND)
    return run_id


def _run(app: Backbeat, viewer: Viewer, run_id: str) -> Run:
    try:
        return app.runs.get(viewer.caller, _run_id(run_id))
    except NotFound:
        raise PageNotFound(RUN_NOT_FOUND) from None


@router.get("/dashboard/runs/{run_id}")
def run_page(request: Request, run_id: str, viewer: ViewerDep) -> Response:
    return _run_page(request, viewer, _run(backbeat(request), viewer, run_id))


def _run_page(
    request: Request, viewer: Viewer, run: Run, *, error: str | None = None, status: int = 200
) -> Response:
    output = run_output(run.output if isinstance(run.output, dict) else None, run.deliveries) or {}
    payload = run.payload or {}
    compared = _compared(backbeat(request), viewer, run, output)
    zone = payload.get("timezone")  # the task's, when the run was made: its times are in it
    return page(
        request,
        "run.html",
        status,
        run=run,
        payload=payload,
        zone=times.shown_zone(zone if isinstance(zone, str) else None),
        output=output,
        delivery_states=present.DELIVERY_STATES,
        live=run.status in present.LIVE_STATUSES,
        cancelable=run.status in present.CANCELABLE_STATUSES,
        action_error=error,
        compared=compared,
    )


def _compared(app: Backbeat, viewer: Viewer, run: Run, output: dict[str, object]) -> Comparison:
    """This run's report against the previous completed run's, when both exist."""
    text = output.get("text")
    if run.status is not RunStatus.COMPLETED or not isinstance(text, str):
        return None
    previous = app.runs.previous_report(viewer.caller, run)
    if previous is None:
        return None
    return previous, diff_reports(str(previous.get("output") or ""), text)


@router.get("/dashboard/runs/{run_id}/status", tags=["json"])
def run_status(request: Request, run_id: str, viewer: ViewerDep) -> Response:
    """What the run page polls while a run can still change."""
    run = _run(backbeat(request), viewer, run_id)
    return JSONResponse(
        {
            "id": run.id,
            "status": run.status.value,
            "live": run.status in present.LIVE_STATUSES,
            "attempts": run.attempt_count,
            "updated_at": iso_utc(run.updated_at),
        }
    )


@router.post("/dashboard/runs/{run_id}/cancel")
def cancel_run(request: Request, run_id: str, form: FormDep, viewer: ViewerDep) -> Response:
    app = backbeat(request)
    wanted = _run_id(run_id)
    try:
        run = app.runs.cancel(viewer.caller, wanted)
    except NotFound:
        raise PageNotFound(RUN_NOT_FOUND) from None
    except Conflict as exc:
        return _run_page(request, viewer, _run(app, viewer, wanted), error=exc.message, status=409)
    return redirect(f"/dashboard/runs/{run.id}?done=canceled")
