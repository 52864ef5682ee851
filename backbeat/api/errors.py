"""Every error leaves as {"status": "error", "error": text, "message": text} (+ missing_fields)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from backbeat.api.responses import JSON
from backbeat.domain.errors import (
    AccessDenied,
    BackbeatError,
    BodyTooLarge,
    Conflict,
    InvalidInput,
    MalformedBody,
    NotAuthenticated,
    NotFound,
)

STATUS: dict[type[BackbeatError], int] = {
    InvalidInput: 400,
    MalformedBody: 400,
    NotAuthenticated: 401,
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
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 400)
    fields = exc.path if isinstance(exc, InvalidInput) else None
    return JSON(error_body(exc.message, fields), status_code=status)


def install(app: FastAPI) -> None:
    async def on_backbeat_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, BackbeatError)
        return error_response(exc)

    async def on_http_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSON(error_body(str(exc.detail)), status_code=exc.status_code)

    async def on_validation_error(_request: Request, exc: Exception) -> Response:
        return JSON(error_body("Invalid request", []), status_code=400)

    app.add_exception_handler(BackbeatError, on_backbeat_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
