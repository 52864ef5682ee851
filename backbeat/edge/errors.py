"""Every error leaves as {"status": "error", "error": text, "message": text} (+ missing_fields).

A database that cannot be reached (down, restarting, a session cut, the pool exhausted) is an
outage, not a bug: 503 with Retry-After, logged once as a warning (`api.db_unavailable`)
without a traceback. Any other database error is a bug and stays a 500 with its traceback.

The store raises the domain's DatabaseUnavailable for an outage (backbeat.store.engine). The
SQLAlchemy checks remain as a backstop for what can still arrive untranslated: an engine
handed to `build()` that `make_engine` did not make, and an error SQLAlchemy raises while
handling another (its re-entrant path skips the `handle_error` hook).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backbeat.domain.errors import (
    AccessDenied,
    BackbeatError,
    BodyTooLarge,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    MalformedBody,
    NotAuthenticated,
    NotFound,
)
from backbeat.domain.plans import PlanLimitReached
from backbeat.edge.responses import JSON

log = logging.getLogger("backbeat.api")

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = "The database is unavailable; try again shortly"

STATUS: dict[type[BackbeatError], int] = {
    InvalidInput: 400,
    MalformedBody: 400,
    NotAuthenticated: 401,
    PlanLimitReached: 402,
    AccessDenied: 403,
    NotFound: 404,
    Conflict: 409,
    BodyTooLarge: 413,
}


def error_body(message: str, missing_fields: list[str | int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "error", "error": message, "message": message}
    if missing_fields is not None:
        body["missing_fields"] = missing_fields
    return body


def error_response(exc: BackbeatError) -> Response:
    if isinstance(exc, PlanLimitReached):  # Recoup's own body: `error` is "plan_limit"
        return JSON(exc.refusal.body(), status_code=402)
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    fields = exc.path if isinstance(exc, InvalidInput) else None
    return JSON(error_body(exc.message, fields), status_code=status)


def database_unavailable(exc: BaseException) -> bool:
    """The database could not be used at all, as opposed to refusing a statement: it is down
    or restarting, the session was cut, or no pooled connection came free in time."""
    if isinstance(exc, DatabaseUnavailable | OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def unavailable_headers() -> dict[str, str]:
    return {"retry-after": str(RETRY_AFTER_SECONDS), "cache-control": "no-store"}


def log_unavailable(request: Request, exc: BaseException) -> None:
    """One warning line per refused request: the driver's reason, no traceback."""
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first_line = (str(reason).strip().splitlines() or [type(reason).__name__])[0]
    log.warning(
        "database unavailable: answered 503",
        extra={
            "event": "api.db_unavailable",
            "method": request.method,
            "path": request.url.path,
            "error": first_line[:200],
        },
    )


def unavailable_response(request: Request, exc: BaseException) -> Response:
    log_unavailable(request, exc)
    return JSON(error_body(UNAVAILABLE), status_code=503, headers=unavailable_headers())


def install(app: FastAPI) -> None:
    async def on_backbeat_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BackbeatError)
        return error_response(exc)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSON(error_body(str(exc.detail)), status_code=exc.status_code)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        return JSON(error_body("Invalid request", []), status_code=400)

    async def on_database_error(request: Request, exc: Exception) -> Response:
        if not database_unavailable(exc):
            raise exc  # a bug: ErrorBoundaryMiddleware answers 500 and logs the traceback
        return unavailable_response(request, exc)

    app.add_exception_handler(BackbeatError, on_backbeat_error)
    app.add_exception_handler(DatabaseUnavailable, on_database_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(PoolTimeout, on_database_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
