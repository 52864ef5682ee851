"""The dashboard's router: its pages and forms, gathered from the modules that hold them.
Each route reads the session, calls the same service methods as the API, and renders a page;
changes answer with a redirect (POST, then GET).

Routes match in the order they are added, so the catch-all for unknown /dashboard paths is
added here, after every module's routes."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from backbeat.dashboard import (
    run_pages,
    schedule_preview,
    session_pages,
    task_pages,
    webhook_pages,
)
from backbeat.dashboard.templating import MissingStatic, static_response
from backbeat.dashboard.web import DashboardRoute, PageNotFound

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)
router.include_router(session_pages.router)
router.include_router(task_pages.router)
router.include_router(schedule_preview.router)
router.include_router(run_pages.router)
router.include_router(webhook_pages.router)


# --- Static files, and anything else under /dashboard ---


@router.get("/dashboard/static/{name}")
def static_file(request: Request, name: str) -> Response:
    try:
        return static_response(request, name)
    except MissingStatic:
        raise PageNotFound("There is no such file.") from None


@router.get("/dashboard/{rest:path}")
def not_found(request: Request, rest: str) -> Response:
    raise PageNotFound("There is no such page.")
