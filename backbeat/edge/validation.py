"""Turning raw bodies and query strings into validated values, or the first issue as a person
would read it (the real service reports Zod's first issue; these are its words)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

from backbeat.domain.errors import InvalidInput, MalformedBody

ModelT = TypeVar("ModelT", bound=BaseModel)

_EXPECTED = {
    "string_type": "string",
    "bool_type": "boolean",
    "int_type": "int",
    "int_from_float": "int",
    "float_type": "number",
    "dict_type": "object",
    "list_type": "array",
    "model_type": "object",
    "missing": None,  # the field's own type, see _expected_for_missing
}


def js_type(value: object) -> str:
    """What JavaScript's typeof-like wording calls a JSON value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def parse_json(raw: bytes) -> Any:
    if not raw.strip():
        raise MalformedBody("Invalid JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise MalformedBody("Invalid JSON body") from None


def validate(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_issue(model, exc) from None


def first_issue(model: type[BaseModel], exc: ValidationError) -> InvalidInput:
    errors = exc.errors(include_url=False)
    # Zod checks the declared fields in order, then reports keys it does not know.
    for error in errors:
        if error["type"] == "extra_forbidden":
            continue
        loc = list(error["loc"])
        if error["type"] == "backbeat":
            return InvalidInput(str(error["ctx"]["message"]), loc[:1])
        if error["type"] == "model_type" or not loc:
            received = js_type(error["input"])
            return InvalidInput(f"Invalid input: expected object, received {received}", [])
        if error["type"] == "missing":
            expected = _expected_for_missing(model, str(loc[0]))
            return InvalidInput(f"Invalid input: expected {expected}, received undefined", loc)
        if error["type"] == "literal_error":
            # Zod's wording for an enum; a nested field is named, so the message says which.
            allowed = re.findall(r"'([^']*)'", str(error["ctx"]["expected"]))
            options = "|".join(f'"{each}"' for each in allowed)
            where = ".".join(str(part) for part in loc) + ": " if len(loc) > 1 else ""
            return InvalidInput(f"{where}Invalid option: expected one of {options}", loc[:1])
        expected = _EXPECTED.get(error["type"]) or "valid value"
        received = js_type(error["input"])
        if expected == "int" and received == "number":
            return InvalidInput("Invalid input: expected int, received number", loc[:1])
        return InvalidInput(f"Invalid input: expected {expected}, received {received}", loc[:1])
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    quoted = ", ".join(f'"{key}"' for key in unknown)
    noun = "key" if len(unknown) == 1 else "keys"
    return InvalidInput(f"Unrecognized {noun}: {quoted}", [])


def _expected_for_missing(model: type[BaseModel], field: str) -> str:
    annotation = model.model_fields[field].annotation
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "int"
    return "string"


QueryParser = Callable[[str, str], Any]


def parse_query(
    params: list[tuple[str, str]], parsers: Mapping[str, QueryParser]
) -> dict[str, Any]:
    """Known parameters parsed; an unknown or repeated one is a 400, so typos never widen a list."""
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for name, raw in params:
        parser = parsers.get(name)
        if parser is None:
            raise InvalidInput(f'Unrecognized key: "{name}"', [])
        if name in seen:
            raise InvalidInput(f"{name} must be given at most once", [name])
        seen.add(name)
        values[name] = parser(name, raw)
    return values
