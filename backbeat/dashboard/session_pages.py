"""Signing in and out, and the account switcher: the routes that change whom the session
acts for, rather than what it acts on."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from backbeat.dashboard.dependencies import HOME, FormDep, ViewerDep
from backbeat.dashboard.session import Sessions
from backbeat.dashboard.web import (
    DashboardRoute,
    PageNotFound,
    current_session,
    page,
    redirect,
    replace_session,
    safe_next,
    sessions,
)
from backbeat.domain.errors import AccessDenied, NotAuthenticated
from backbeat.edge.context import backbeat
from backbeat.services.lookups import Viewer

log = logging.getLogger("backbeat.dashboard")

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)


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
