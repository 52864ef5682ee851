"""Request-scoped access to the wired application."""

from __future__ import annotations

from typing import cast

from starlette.requests import Request

from backbeat.wiring import Backbeat


def backbeat(request: Request) -> Backbeat:
    return cast(Backbeat, request.app.state.backbeat)
