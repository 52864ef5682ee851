"""The schedule preview: the next fire times and the description of a schedule as typed,
checked as the API checks it. The task form draws it on the server, and its script asks the
JSON endpoint here to redraw it while the user types."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from backbeat.dashboard import forms, present, times
from backbeat.dashboard.dependencies import ViewerDep
from backbeat.dashboard.web import DashboardRoute
from backbeat.domain.clock import iso_utc
from backbeat.domain.cron import Schedule
from backbeat.domain.errors import InvalidInput
from backbeat.edge.context import backbeat
from backbeat.services.tasks import UPCOMING
from backbeat.wiring import Backbeat

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


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


@router.get("/dashboard/schedule-preview", tags=["json"])
def schedule_preview(request: Request, viewer: ViewerDep) -> Response:
    """The next fire times and the description of a schedule being typed, checked as the API
    checks it: {"ok": true, "description", "timezone", "upcoming": [ISO UTC], "upcoming_utc",
    "upcoming_text": [the same, as shown: in the zone, labelled]} or
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
            "upcoming_text": [times.in_zone(at, preview.timezone) for at in preview.upcoming],
        }
    )
