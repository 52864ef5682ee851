"""Query-string parsers, each raising the message a person should read."""

from __future__ import annotations

import math
from uuid import UUID

from backbeat.domain.errors import InvalidInput
from backbeat.domain.runs import RunStatus
from backbeat.edge.requests import is_uuid


def uuid_param(name: str, raw: str) -> UUID:
    if not is_uuid(raw):
        raise InvalidInput(f"{name} must be a valid UUID", [name])
    return UUID(raw)


def bool_param(name: str, raw: str) -> bool:
    if raw == "true":
        return True
    if raw == "false":
        return False
    raise InvalidInput(f"{name} must be true or false", [name])


def text_param(name: str, raw: str) -> str:
    return raw


# A page's size when a request pages without saying how many (the real service's runs
# listing answers 20), in every front door.
DEFAULT_PAGE_SIZE = 20


def task_page_size(limit: int | None, cursor: str | None) -> int | None:
    """How many tasks a listing answers: None (every task, as Recoup lists them) unless it
    asks for a page, by `limit` or by a `cursor` (then DEFAULT_PAGE_SIZE without a limit)."""
    if limit is None and cursor is None:
        return None
    return DEFAULT_PAGE_SIZE if limit is None else limit


def limit_param(name: str, raw: str) -> int:
    """Coerced like the real service's `z.coerce.number().int().min(1).max(100)`."""
    text = raw.strip()
    try:
        number = float(text) if text else 0.0
    except ValueError:
        number = math.nan
    if math.isnan(number):
        raise InvalidInput("Invalid input: expected number, received NaN", [name])
    if math.isfinite(number) and number != int(number):
        raise InvalidInput("Invalid input: expected int, received number", [name])
    if number < 1:
        raise InvalidInput("Too small: expected number to be >=1", [name])
    if number > 100:
        raise InvalidInput("Too big: expected number to be <=100", [name])
    return int(number)


def status_param(name: str, raw: str) -> RunStatus:
    try:
        return RunStatus(raw)
    except ValueError:
        allowed = ", ".join(status.value for status in RunStatus)
        raise InvalidInput(f"{name} must be one of {allowed}", [name]) from None
