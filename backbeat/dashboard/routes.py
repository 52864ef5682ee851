"""The dashboard's pages and forms. Each route reads the session, calls the same service
methods as the API, and renders a page; changes answer with a redirect (POST, then GET)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backbeat.dashboard import forms, present
from backbeat.dashboard.forms import TaskForm
from backbeat.dashboard.session import Sessions
from backbeat.dashboard.web import (
    DashboardRoute,
    PageNotFound,
    checked_form,
    current_session,
    page,
    redirect,
    replace_session,
    safe_next,
    sessions,
    signed_in,
    static_response,
)
from backbeat.domain.clock import iso_utc
from backbeat.domain.cron import Schedule
from backbeat.domain.deliveries import run_output
from backbeat.domain.errors import AccessDenied, Conflict, InvalidInput, NotAuthenticated, NotFound
from backbeat.domain.models import Run
from backbeat.domain.plans import PlanLimitReached
from backbeat.edge.context import backbeat
from backbeat.edge.params import bool_param, uuid_param
from backbeat.edge.requests import is_uuid
from backbeat.services.lookups import Viewer
from backbeat.services.tasks import UPCOMING, TaskPatch, TaskView
from backbeat.wiring import Backbeat

log = logging.getLogger("backbeat.dashboard")

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

ViewerDep = Annotated[Viewer, Depends(signed_in)]
FormDep = Annotated[dict[str, str], Depends(checked_form)]

RUNS_PER_PAGE = 20
HOME = "/dashboard/tasks"
NEW_TASK = "/dashboard/tasks/new"
TASK_NOT_FOUND = "There is no such task in this account."
RUN_NOT_FOUND = "There is no such run in the accounts you can see."


def _task_id(raw: str) -> UUID:
    if not is_uuid(raw):
        raise PageNotFound(TASK_NOT_FOUND)
    return UUID(raw)


def _run_id(raw: str) -> str:
    run_id = raw.strip()
    if not run_id or len(run_id) > 100 or "\x00" in run_id:
        raise PageNotFound(RUN_NOT_FOUND)
    return run_id


def _task_view(app: Backbeat, viewer: Viewer, task_id: UUID) -> TaskView:
    found = app.tasks.list_tasks(viewer.caller, account_id=viewer.account_id, task_id=task_id)
    if not found:
        raise PageNotFound(TASK_NOT_FOUND)
    return found[0]


def _run(app: Backbeat, viewer: Viewer, run_id: str) -> Run:
    try:
        return app.runs.get(viewer.caller, _run_id(run_id))
    except NotFound:
        raise PageNotFound(RUN_NOT_FOUND) from None


@contextmanager
def _task_not_found() -> Iterator[None]:
    """A task that does not exist, or is another account's, is a 404 page; other refusals
    (an account_id override not allowed) keep their own answer."""
    try:
        yield
    except NotFound:
        raise PageNotFound(TASK_NOT_FOUND) from None
    except AccessDenied as exc:
        if exc.message == "Access denied to this task":
            raise PageNotFound(TASK_NOT_FOUND) from None
        raise


def _update(app: Backbeat, viewer: Viewer, task_id: UUID, patch: TaskPatch) -> TaskView:
    """TaskService.update, with another account's task reported as not found."""
    with _task_not_found():
        return app.tasks.update(viewer.caller, task_id, patch, account_id=viewer.account_id)


# --- Signing in and out ---


@router.get("/")
def sign_in_page(request: Request) -> Response:
    found = current_session(request)
    next_path = safe_next(request.query_params.get("next"))
    if found is not None and found.signed_in:
        return redirect(next_path or HOME)
    return page(request, "sign_in.html", next_path=next_path, error=None)


@router.post("/dashboard/sign-in")
def sign_in(request: Request, form: FormDep) -> Response:
    app = backbeat(request)
    next_path = safe_next(form.get("next"))
    now = app.clock.now()
    try:
        caller = app.keys.check(form.get("key", "").strip(), at=now)
    except NotAuthenticated:
        log.info("dashboard sign-in refused", extra={"event": "dashboard.sign_in_refused"})
        error = "That API key was not accepted. Check it, or ask for a new one."
        return page(request, "sign_in.html", 401, next_path=next_path, error=error)
    started = sessions(request).signed_in(now, caller.key_id, caller.account_id)
    assert started.session_id is not None
    expires = now + timedelta(seconds=sessions(request).lifetime_seconds)
    app.keys.start_session(started.session_id, caller.key_id, now, expires)
    replace_session(request, started)
    log.info(
        "dashboard sign-in",
        extra={
            "event": "dashboard.signed_in",
            "account_id": str(caller.account_id),
            "key_id": str(caller.key_id),
        },
    )
    return redirect(next_path or HOME)


@router.post("/dashboard/sign-out")
def sign_out(request: Request, form: FormDep) -> Response:
    app = backbeat(request)
    ending = current_session(request)
    if ending is not None and ending.session_id is not None:
        app.keys.end_session(ending.session_id)  # a copy of the cookie stops working too
    replace_session(request, Sessions.anonymous(app.clock.now()))
    return redirect("/?done=signed-out")


# --- The account switcher ---


@router.get("/dashboard/account")
def account_page(request: Request, viewer: ViewerDep) -> Response:
    return _account_page(request, viewer)


def _account_page(
    request: Request, viewer: Viewer, error: str | None = None, status: int = 200
) -> Response:
    if not viewer.can_switch:
        raise PageNotFound("This API key's account belongs to no organization to switch within.")
    choices = backbeat(request).lookups.teammates(viewer.caller)
    return page(
        request, "account.html", status, choices=choices, admin=viewer.is_admin, error=error
    )


@router.post("/dashboard/account")
def switch_account(request: Request, form: FormDep, viewer: ViewerDep) -> Response:
    if not viewer.can_switch:
        raise PageNotFound("This API key's account belongs to no organization to switch within.")
    wanted = form.get("account", "").strip()
    data = current_session(request)
    assert data is not None
    app = backbeat(request)
    try:
        acting = app.lookups.find_account(viewer.caller, wanted) if wanted else None
    except AccessDenied as exc:
        return _account_page(request, viewer, exc.message, 403)
    if acting == viewer.caller.account_id:
        acting = None
    replace_session(request, replace(data, acting_id=acting))
    return redirect(f"{HOME}?done=switched")


# --- Tasks ---


@router.get("/dashboard")
def dashboard_home(request: Request) -> Response:
    return redirect(HOME)


@router.get("/dashboard/tasks")
def tasks_page(request: Request, viewer: ViewerDep) -> Response:
    raw_artist = request.query_params.get("artist_account_id", "")
    raw_enabled = request.query_params.get("enabled", "")
    artist = uuid_param("artist_account_id", raw_artist) if raw_artist else None
    enabled = bool_param("enabled", raw_enabled) if raw_enabled else None
    app = backbeat(request)
    # One listing, filtered here: the artist filter offers every artist of the account.
    views = app.tasks.list_tasks(viewer.caller, account_id=viewer.account_id)
    artist_ids = sorted({view.task.artist_account_id for view in views})
    names = app.lookups.artist_names(artist_ids)
    shown = [
        view
        for view in views
        if (artist is None or view.task.artist_account_id == artist)
        and (enabled is None or view.task.is_active == enabled)
    ]
    return page(
        request,
        "tasks.html",
        views=shown,
        total=len(views),
        artist_ids=artist_ids,
        names=names,
        artist=raw_artist,
        enabled=raw_enabled,
    )


@dataclass(frozen=True, slots=True)
class Preview:
    """The schedule preview the server draws (the page's script redraws it while typing)."""

    description: str
    timezone: str
    upcoming: list[datetime]
    error: str | None = None
    error_field: str | None = None


def schedule_preview_of(app: Backbeat, schedule: str, timezone: str) -> Preview:
    """The preview of a schedule as typed (a blank timezone is UTC, as the API takes it);
    a refused one carries the API's message, and the field it names in `error_field`."""
    timezone = timezone.strip() or "UTC"
    try:
        forms.check_schedule(schedule, timezone)
    except InvalidInput as exc:
        field = str(exc.path[0]) if exc.path else None
        return Preview("", timezone, [], exc.message, field)
    upcoming = Schedule.parse(schedule, timezone).upcoming(app.clock.now(), UPCOMING)
    return Preview(present.describe_schedule(schedule), timezone, upcoming)


def _preview(app: Backbeat, form: TaskForm) -> Preview | None:
    schedule = form.values.get("schedule", "")
    if not schedule.strip():
        return None
    return schedule_preview_of(app, schedule, form.values.get("timezone", ""))


def _form_context(app: Backbeat, form: TaskForm, action: str, submit: str) -> dict[str, object]:
    return {
        "form": form,
        "form_action": action,
        "submit_label": submit,
        "preview": _preview(app, form),
        "default_model": app.settings.default_model,
    }


def _new_task_page(request: Request, form: TaskForm, status: int = 200) -> Response:
    context = _form_context(backbeat(request), form, NEW_TASK, "Create task")
    return page(request, "task_new.html", status, **context)


@router.get(NEW_TASK)
def new_task_page(request: Request, viewer: ViewerDep) -> Response:
    return _new_task_page(request, TaskForm.blank())


@router.post(NEW_TASK)
def create_task(request: Request, form: FormDep, viewer: ViewerDep) -> Response:
    app = backbeat(request)
    try:
        view = app.tasks.create(viewer.caller, forms.draft_from(form, viewer.account_id))
    except InvalidInput as exc:
        return _new_task_page(request, TaskForm.failed(form, exc), 400)
    except AccessDenied as exc:
        return _new_task_page(request, TaskForm.failed(form, exc.message), 403)
    except PlanLimitReached as exc:
        return _new_task_page(request, TaskForm.failed(form, exc.message), 402)
    return redirect(f"/dashboard/tasks/{view.task.id}?done=created")


def _task_page(
    request: Request,
    viewer: Viewer,
    task_id: UUID,
    *,
    form: TaskForm | None = None,
    status: int = 200,
    action_error: str | None = None,
) -> Response:
    app = backbeat(request)
    view = _task_view(app, viewer, task_id)
    cursor = request.query_params.get("cursor") or None
    history_error = None
    try:
        history = app.runs.list_runs(
            viewer.caller,
            limit=RUNS_PER_PAGE,
            account_id=view.task.account_id,
            task_id=task_id,
            cursor=cursor,
        )
    except InvalidInput as exc:
        history_error, cursor = exc.message, None
        history = app.runs.list_runs(
            viewer.caller, limit=RUNS_PER_PAGE, account_id=view.task.account_id, task_id=task_id
        )
    latest = history.runs
    if cursor is not None:  # the chart shows the latest runs, whichever page is shown
        latest = app.runs.list_runs(
            viewer.caller, limit=RUNS_PER_PAGE, account_id=view.task.account_id, task_id=task_id
        ).runs
    names = app.lookups.artist_names([view.task.artist_account_id])
    action = f"/dashboard/tasks/{task_id}"
    return page(
        request,
        "task.html",
        status,
        view=view,
        task=view.task,
        artist_name=names.get(view.task.artist_account_id),
        action_error=action_error,
        history=history,
        history_error=history_error,
        cursor=cursor,
        charts=present.charts(latest),
        **_form_context(app, form or TaskForm.of(view), action, "Save changes"),
    )


@router.get("/dashboard/tasks/{task_id}")
def task_page(request: Request, task_id: str, viewer: ViewerDep) -> Response:
    return _task_page(request, viewer, _task_id(task_id))


@router.post("/dashboard/tasks/{task_id}")
def save_task(request: Request, task_id: str, form: FormDep, viewer: ViewerDep) -> Response:
    app = backbeat(request)
    wanted = _task_id(task_id)
    try:
        _update(app, viewer, wanted, forms.patch_from(wanted, form))
    except InvalidInput as exc:
        return _task_page(request, viewer, wanted, form=TaskForm.failed(form, exc), status=400)
    except AccessDenied as exc:
        failed = TaskForm.failed(form, exc.message)
        return _task_page(request, viewer, wanted, form=failed, status=403)
    except PlanLimitReached as exc:
        failed = TaskForm.failed(form, exc.message)
        return _task_page(request, viewer, wanted, form=failed, status=402)
    return redirect(f"/dashboard/tasks/{wanted}?done=saved")


@router.post("/dashboard/tasks/{task_id}/pause")
def pause_task(request: Request, task_id: str, form: FormDep, viewer: ViewerDep) -> Response:
    wanted = _task_id(task_id)
    _update(backbeat(request), viewer, wanted, TaskPatch(enabled=False))
    return redirect(f"/dashboard/tasks/{wanted}?done=paused")


@router.post("/dashboard/tasks/{task_id}/resume")
def resume_task(request: Request, task_id: str, form: FormDep, viewer: ViewerDep) -> Response:
    wanted = _task_id(task_id)
    _update(backbeat(request), viewer, wanted, TaskPatch(enabled=True))
    return redirect(f"/dashboard/tasks/{wanted}?done=resumed")


@router.post("/dashboard/tasks/{task_id}/run")
def run_task_now(request: Request, task_id: str, form: FormDep, viewer: ViewerDep) -> Response:
    wanted = _task_id(task_id)
    with _task_not_found():
        run = backbeat(request).runs.trigger(viewer.caller, wanted, account_id=viewer.account_id)
    return redirect(f"/dashboard/runs/{run.id}?done=queued")


@router.get("/dashboard/tasks/{task_id}/delete")
def delete_task_page(request: Request, task_id: str, viewer: ViewerDep) -> Response:
    view = _task_view(backbeat(request), viewer, _task_id(task_id))
    return page(request, "task_delete.html", task=view.task)


@router.post("/dashboard/tasks/{task_id}/delete")
def delete_task(request: Request, task_id: str, form: FormDep, viewer: ViewerDep) -> Response:
    wanted = _task_id(task_id)
    with _task_not_found():
        backbeat(request).tasks.delete(viewer.caller, wanted, account_id=viewer.account_id)
    return redirect(f"{HOME}?done=deleted")


@router.get("/dashboard/schedule-preview", tags=["json"])
def schedule_preview(request: Request, viewer: ViewerDep) -> Response:
    """The next fire times and the description of a schedule being typed, checked as the API
    checks it: {"ok": true, "description", "timezone", "upcoming": [ISO UTC]} or
    {"ok": false, "error", "field"}."""
    preview = schedule_preview_of(
        backbeat(request),
        request.query_params.get("schedule", ""),
        request.query_params.get("timezone", ""),
    )
    if preview.error is not None:
        return JSONResponse({"ok": False, "error": preview.error, "field": preview.error_field})
    return JSONResponse(
        {
            "ok": True,
            "description": preview.description,
            "timezone": preview.timezone,
            "upcoming": [iso_utc(at) for at in preview.upcoming],
            "upcoming_utc": [present.utc_text(at) for at in preview.upcoming],
        }
    )


# --- Runs ---


@router.get("/dashboard/runs/{run_id}")
def run_page(request: Request, run_id: str, viewer: ViewerDep) -> Response:
    return _run_page(request, viewer, _run(backbeat(request), viewer, run_id))


def _run_page(
    request: Request, viewer: Viewer, run: Run, *, error: str | None = None, status: int = 200
) -> Response:
    output = run_output(run.output if isinstance(run.output, dict) else None, run.deliveries) or {}
    return page(
        request,
        "run.html",
        status,
        run=run,
        payload=run.payload or {},
        output=output,
        delivery_states=present.DELIVERY_STATES,
        live=run.status in present.LIVE_STATUSES,
        cancelable=run.status in present.CANCELABLE_STATUSES,
        action_error=error,
    )


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


# --- Static files, and anything else under /dashboard ---


@router.get("/dashboard/static/{name}")
def static_file(request: Request, name: str) -> Response:
    return static_response(request, name)


@router.get("/dashboard/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    raise PageNotFound("There is no such page.")
