"""Credentials are checked before anything reads the body (the rule: edge.credentials)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import Request

from backbeat.edge.context import backbeat
from backbeat.edge.credentials import check_key, presented_key
from backbeat.services.keys import Caller


def current_caller(request: Request) -> Caller:
    return check_key(backbeat(request), presented_key(request.headers))


CallerDep = Annotated[Caller, Depends(current_caller)]
