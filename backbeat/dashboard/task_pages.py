"""The task pages: the list, the new-task form, a task's page (its form, run history and
charts) and the changes made from it: save, pause, resume, run now, delete."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from backbeat.dashboard import agent_fields, delivery_fields, forms, present, times
from backbeat.dashboard.dependencies import HOME, FormDep, ViewerDep
from backbeat.dashboard.forms import TaskForm
from backbeat.dashboard.schedule_preview import Preview, schedule_preview_of
from backbeat.dashboard.web import DashboardRoute, PageNotFound, page, redirect
from backbeat.domain.agent_settings import BUILTIN_TOOLS
from backbeat.domain.errors import AccessDenied, InvalidInput, NotFound
from backbeat.domain.plans import PlanLimitReached
from backbeat.edge.context import backbeat
from backbeat.edge.params import bool_param, uuid_param
from backbeat.edge.requests import is_uuid
from backbeat.services.lookups import Viewer
from backbeat.services.tasks import TaskPatch, TaskView
from backbeat.wiring import Backbeat

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

RUNS_PER_PAGE = 20
NEW_TASK = "/dashboard/tasks/new"
TASK_NOT_FOUND = "There is no such task in this account."


def _task_id(raw: str) -> UUID:
    if not is_uuid(raw):
        raise PageNotFound(TASK_NOT_FOUND)
    return UUID(raw)


def _task_view(app: Backbeat, viewer: Viewer, task_id: UUID) -> TaskView:
    found = app.tasks.list_tasks(viewer.caller, account_id=viewer.account_id, task_id=task_id)
    if not found:
        raise PageNotFound(TASK_NOT_FOUND)
    return found[0]


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
        spend=agent_fields.month_spend(app.usage.this_month(viewer.caller, viewer.account_id)),
    )


def _preview(app: Backbeat, form: TaskForm) -> Preview | None:
    schedule = form.values.get("schedule", "")
    if not schedule.strip():
        return None
    return schedule_preview_of(app, schedule, form.values.get("timezone", ""))


def _form_context(
    app: Backbeat,
    viewer: Viewer,
    form: TaskForm,
    action: str,
    submit: str,
    task: TaskView | None = None,
) -> dict[str, object]:
    """What task_form.html needs. The artists offered are those the save accepts for the
    account acted for; an edited task's artist that no longer is stays shown, not offered."""
    artists = forms.artist_options(app.lookups.artist_choices(viewer.caller, viewer.account_id))
    kept = stored_slack = None
    if task is not None:
        kept = forms.kept_artist(artists, task.task.artist_account_id, task.artist_name)
        delivery = task.task.delivery
        stored_slack = None if delivery is None else delivery.slack_url  # masked
    return {
        "form": form,
        "form_action": action,
        "submit_label": submit,
        "preview": _preview(app, form),
        "default_model": app.settings.default_model,
        "artists": artists,
        "kept_artist": kept,
        "zones": times.zone_choices(),
        "when_choices": delivery_fields.WHEN_CHOICES,
        "stored_slack": stored_slack,
        "tools_choices": agent_fields.TOOLS_CHOICES,
        "builtin_tools": BUILTIN_TOOLS,
    }


def _new_task_page(request: Request, viewer: Viewer, form: TaskForm, status: int = 200) -> Response:
    context = _form_context(backbeat(request), viewer, form, NEW_TASK, "Create task")
    return page(request, "task_new.html", status, **context)


# /dashboard/tasks/new is registered before /dashboard/tasks/{task_id}, which would take it.
@router.get(NEW_TASK)
def new_task_page(request: Request, viewer: ViewerDep) -> Response:
    return _new_task_page(request, viewer, TaskForm.blank())


@router.post(NEW_TASK)
def create_task(request: Request, form: FormDep, viewer: ViewerDep) -> Response:
    app = backbeat(request)
    try:
        view = app.tasks.create(viewer.caller, forms.draft_from(form, viewer.account_id))
    except InvalidInput as exc:
        return _new_task_page(request, viewer, TaskForm.failed(form, exc), 400)
    except AccessDenied as exc:
        return _new_task_page(request, viewer, TaskForm.failed(form, exc.message), 403)
    except PlanLimitReached as exc:
        return _new_task_page(request, viewer, TaskForm.failed(form, exc.message), 402)
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
    action = f"/dashboard/tasks/{task_id}"
    return page(
        request,
        "task.html",
        status,
        view=view,
        task=view.task,
        artist_name=view.artist_name,
        action_error=action_error,
        history=history,
        history_error=history_error,
        cursor=cursor,
        charts=present.charts(latest),
        delivery_summary=delivery_fields.summary(view.task),
        agent_summary=agent_fields.summary(view.task),
        **_form_context(app, viewer, form or TaskForm.of(view), action, "Save changes", view),
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
