"""Credentials are checked before anything reads the body.

Exactly one of `x-api-key: <key>` or `Authorization: Bearer <key>` must be sent.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from backbeat.domain.errors import NotAuthenticated
from backbeat.edge.context import backbeat
from backbeat.services.keys import Caller, authenticate


def presented_key(request: Request) -> str:
    api_key = request.headers.get("x-api-key")
    authorization = request.headers.get("authorization")
    if (api_key is None) == (authorization is None):
        raise NotAuthenticated("Exactly one of x-api-key or Authorization must be provided")
    if api_key is not None:
        return api_key
    assert authorization is not None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("Authorization header with Bearer token required")
    return token


def current_caller(request: Request) -> Caller:
    key = presented_key(request)
    app = backbeat(request)
    with app.uow() as uow:
        return authenticate(uow, app.settings.secret, key, app.clock.now())


CallerDep = Annotated[Caller, Depends(current_caller)]
