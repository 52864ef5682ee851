"""The dashboard's HTTP plumbing: security headers, sessions on the request, forms with
CSRF checks, pages and error pages (templates and static files: templating.py)."""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from backbeat.dashboard.session import COOKIE, CSRF_FIELD, SessionData, Sessions
from backbeat.dashboard.templating import TEMPLATES
from backbeat.domain.errors import (
    AccessDenied,
    BackbeatError,
    Conflict,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)
from backbeat.domain.plans import PlanLimitReached
from backbeat.edge import errors
from backbeat.edge.context import backbeat
from backbeat.services.lookups import Viewer

log = logging.getLogger("backbeat.dashboard")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
# Success messages after a redirect, by code: the page never shows text taken from the URL.
NOTICES = {
    "signed-out": "You are signed out.",
    "ended": "Your session ended (it expired, or its API key was revoked). Sign in again.",
    "saved": "Task saved.",
    "created": "Task created.",
    "paused": "Task paused: it will not run on its schedule until it is resumed.",
    "resumed": "Task resumed: it runs on its schedule again.",
    "deleted": "Task deleted. Its runs stay readable.",
    "queued": "Run queued: a worker will pick it up shortly.",
    "canceled": "Run canceled.",
    "switched": "Switched account.",
}
MAX_FORM_FIELDS = 20


# --- Problems: conditions a route reports as a page (or JSON, for the JSON endpoints) ---


class Problem(Exception):
    status = 400
    title = "Something is wrong with this request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PageNotFound(Problem):
    status = 404
    title = "Not found"


class CsrfRefused(Problem):
    status = 403
    title = "This form could not be accepted"

    def __init__(self) -> None:
        super().__init__(
            "The form was not sent from this dashboard, or its page is too old. "
            "Go back, reload the page and try again."
        )


class SignInRequired(Problem):
    status = 401
    title = "Sign in"

    def __init__(self, *, ended: bool) -> None:
        super().__init__("Sign in with an API key to continue.")
        self.ended = ended


# --- Sessions on the request ---


def sessions(request: Request) -> Sessions:
    settings = backbeat(request).settings
    return _sessions(
        settings.secret, settings.dashboard_session_seconds, settings.dashboard_cookie_secure
    )


@functools.lru_cache(maxsize=8)
def _sessions(secret: bytes, lifetime_seconds: int, secure: bool | None) -> Sessions:
    """One Sessions per configuration (it derives its keys once), not one per call: a
    request asks for it three or four times."""
    return Sessions(secret, lifetime_seconds, secure)


def current_session(request: Request) -> SessionData | None:
    """The request's session: one set during this request, else the cookie's, if valid."""
    if hasattr(request.state, "dashboard_session"):
        found: SessionData | None = request.state.dashboard_session
        return found
    now = backbeat(request).clock.now()
    found = sessions(request).decode(request.cookies.get(COOKIE), now)
    request.state.dashboard_session = found
    return found


def replace_session(request: Request, data: SessionData) -> None:
    """Use `data` for the rest of the request and send it as the cookie with the response."""
    request.state.dashboard_session = data
    request.state.dashboard_cookie = data


def form_session(request: Request) -> SessionData:
    """A session to bind forms to: the current one, or a new anonymous one."""
    found = current_session(request)
    if found is None:
        found = Sessions.anonymous(backbeat(request).clock.now())
        replace_session(request, found)
    return found


def csrf_token(request: Request) -> str:
    return sessions(request).csrf_token(form_session(request))


def signed_in(request: Request) -> Viewer:
    """The signed-in viewer (re-checked against the key on every request), or SignInRequired."""
    data = current_session(request)
    if data is None or not data.signed_in:
        had_cookie = bool(request.cookies.get(COOKIE))
        raise SignInRequired(ended=had_cookie and (data is None or data.signed_in))
    viewer = backbeat(request).lookups.viewer(
        key_id=data.key_id,
        account_id=data.account_id,
        session_id=data.session_id,
        acting_id=data.acting_id,
    )
    if viewer is None:
        raise SignInRequired(ended=True)
    if data.acting_id is not None and viewer.acting_id != data.acting_id:
        # No longer allowed to act for that account: back to the key's own.
        replace_session(request, replace(data, acting_id=None))
    request.state.dashboard_viewer = viewer
    return viewer


async def checked_form(request: Request) -> dict[str, str]:
    """The urlencoded form of a POST, after its CSRF token was checked against the session."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise Problem("Forms must be sent as application/x-www-form-urlencoded.")
    raw = await request.body()
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=MAX_FORM_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise Problem("The form could not be read.") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise Problem(f"The form sent {name} twice.")
        form[name] = value.replace("\r\n", "\n")
    if not sessions(request).csrf_ok(current_session(request), form.get(CSRF_FIELD)):
        raise CsrfRefused()
    return form


# --- Responses ---


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    viewer: Viewer | None = getattr(request.state, "dashboard_viewer", None)
    done = request.query_params.get("done", "")
    values = {
        "viewer": viewer,
        "csrf_field": CSRF_FIELD,
        "csrf_token": csrf_token(request),
        "notice": NOTICES.get(done),
        "path": request.url.path,
        **context,
    }
    html = TEMPLATES.get_template(template).render(values)
    return HTMLResponse(html, status_code=status)


# Where a sign-in may send the browser afterwards: a dashboard path, nothing else.
_NEXT = re.compile(r"^/dashboard/[A-Za-z0-9_\-/]*$")


def safe_next(value: str | None) -> str | None:
    if value and _NEXT.match(value) and "//" not in value:
        return value
    return None


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def problem_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    return page(request, "problem.html", status, title=title, message=message)


def unavailable_response(request: Request, exc: BaseException) -> Response:
    """The database is unreachable: 503 (JSON for the JSON endpoints), logged as a warning."""
    errors.log_unavailable(request, exc)
    message = "The database is not answering right now. Try again in a moment."
    response: Response
    if _is_json(request):
        response = JSONResponse({"error": message}, status_code=503)
    else:
        response = problem_page(request, 503, "Try again in a moment", message)
    response.headers.update(errors.unavailable_headers())
    return response


def _is_json(request: Request) -> bool:
    return bool(getattr(request.state, "dashboard_json", False))


def problem_response(request: Request, exc: Problem | BackbeatError) -> Response:
    if isinstance(exc, SignInRequired):
        # A session that looks signed in but is not must go, or "/" would send it straight
        # back here. (A valid anonymous one stays: its sign-in form's token still works.)
        found = current_session(request)
        if found is None or found.signed_in:
            replace_session(request, Sessions.anonymous(backbeat(request).clock.now()))
        if _is_json(request):
            return JSONResponse({"error": exc.message}, status_code=401)
        query = {"done": "ended"} if exc.ended else {}
        if request.method == "GET" and safe_next(request.url.path):
            query["next"] = request.url.path
        return redirect("/?" + urlencode(query) if query else "/")
    if isinstance(exc, Problem):
        status, title = exc.status, exc.title
    else:
        status, title = _STATUS.get(type(exc), (400, "Something is wrong with this request"))
    if _is_json(request):
        return JSONResponse({"error": exc.message}, status_code=status)
    return problem_page(request, status, title, exc.message)


_STATUS: dict[type[BackbeatError], tuple[int, str]] = {
    InvalidInput: (400, "Something is wrong with this request"),
    NotAuthenticated: (401, "Sign in"),
    PlanLimitReached: (402, "The account's plan does not allow this"),
    AccessDenied: (403, "Not allowed"),
    NotFound: (404, "Not found"),
    Conflict: (409, "That cannot be done now"),
}


def finish(request: Request, response: Response) -> Response:
    """Every dashboard response: a new session cookie if one was made, security headers."""
    new_session: SessionData | None = getattr(request.state, "dashboard_cookie", None)
    if new_session is not None:
        sessions(request).set_cookie(request, response, new_session)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    response.headers.setdefault("cache-control", "no-store")
    return response


class DashboardRoute(APIRoute):
    """A dashboard route: failures become pages (not the API's JSON), headers are added."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        json_route = "json" in self.tags

        async def route(request: Request) -> Response:
            request.state.dashboard_json = json_route
            try:
                response = await handler(request)
            except (Problem, BackbeatError) as exc:
                response = problem_response(request, exc)
            except Exception as exc:
                if errors.database_unavailable(exc):  # an outage, not a bug: no traceback
                    response = unavailable_response(request, exc)
                else:
                    log.exception(
                        "dashboard request failed",
                        extra={"event": "dashboard.error", "path": request.url.path},
                    )
                    response = problem_page(
                        request,
                        500,
                        "Something went wrong",
                        "The server could not show this page.",
                    )
            return finish(request, response)

        return route
