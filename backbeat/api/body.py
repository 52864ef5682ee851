"""The request body as a dependency, declared after the caller so credentials come first."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import Request

from backbeat.edge.validation import parse_json


async def json_body(request: Request) -> Any:
    return parse_json(await request.body())


BodyDep = Annotated[Any, Depends(json_body)]


async def optional_json_body(request: Request) -> Any:
    """A body that may be left out: none (or only whitespace) reads as `{}`."""
    raw = await request.body()
    return {} if not raw.strip() else parse_json(raw)


OptionalBodyDep = Annotated[Any, Depends(optional_json_body)]
