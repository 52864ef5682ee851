"""Tool arguments: the shared request models where the API has a body, small models here for
what the API takes as a query string, and the JSON schemas the tools advertise.

Every model is validated with the edge's `validate`, so a bad argument answers the message
the API gives for the same mistake (`id must be a valid UUID`, `Unrecognized key: "foo"`,
`Too big: expected number to be <=100`…).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, BeforeValidator, ConfigDict, WithJsonSchema
from pydantic_core import PydanticCustomError

from backbeat.domain.errors import InvalidInput
from backbeat.domain.runs import RunStatus
from backbeat.edge.params import limit_param, status_param, uuid_param
from backbeat.edge.requests import required_text
from backbeat.edge.validation import js_type

_UUID_SCHEMA = {"type": "string", "format": "uuid"}


def _fail(field: str, message: str) -> PydanticCustomError:
    """An error `validate` reports as `message` on `field` (the request models' kind)."""
    return PydanticCustomError("backbeat", "{message}", {"message": message, "field": field})


def _as_filter(parse: Callable[[str, str], Any], field: str, expected: str) -> BeforeValidator:
    """A query-string parser applied to a JSON argument: null is "not given", text is parsed
    as the API parses the query parameter, anything else is the API's type error."""

    def check(value: object) -> object:
        if value is None:
            return None
        if not isinstance(value, str) and not (
            expected == "number" and isinstance(value, int | float) and not isinstance(value, bool)
        ):
            raise _fail(field, f"Invalid input: expected {expected}, received {js_type(value)}")
        try:
            return parse(field, str(value))
        except InvalidInput as exc:
            raise _fail(field, exc.message) from None

    return BeforeValidator(check)


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _schema(spec: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema(spec)


IdFilter = Annotated[UUID | None, _as_filter(uuid_param, "id", "string"), _schema(_UUID_SCHEMA)]
AccountFilter = Annotated[
    UUID | None, _as_filter(uuid_param, "account_id", "string"), _schema(_UUID_SCHEMA)
]
ArtistFilter = Annotated[
    UUID | None, _as_filter(uuid_param, "artist_account_id", "string"), _schema(_UUID_SCHEMA)
]
TaskFilter = Annotated[
    UUID | None, _as_filter(uuid_param, "task_id", "string"), _schema(_UUID_SCHEMA)
]

PageSize = Annotated[
    int | None,
    _as_filter(limit_param, "limit", "number"),
    _schema({"type": "integer", "minimum": 1, "maximum": 100}),
]


class GetTasksArguments(_Arguments):
    """`get_tasks`: the API's list filters (GET /api/tasks), as JSON; null means "not given"."""

    id: IdFilter = None
    account_id: AccountFilter = None
    artist_account_id: ArtistFilter = None
    enabled: Annotated[bool | None, _schema({"type": "boolean"})] = None
    limit: PageSize = None  # a page at a time (without limit or cursor, every task)
    cursor: Annotated[str | None, _schema({"type": "string"})] = None


class ListRunsArguments(_Arguments):
    """`list_runs`: GET /api/tasks/runs without a runId."""

    limit: PageSize = None
    account_id: AccountFilter = None
    task_id: TaskFilter = None
    status: Annotated[
        RunStatus | None,
        _as_filter(status_param, "status", "string"),
        _schema({"type": "string", "enum": [status.value for status in RunStatus]}),
    ] = None
    cursor: Annotated[str | None, _schema({"type": "string"})] = None


class RunIdArguments(_Arguments):
    """`get_task_run_status`: one run by id (GET /api/tasks/runs?runId=)."""

    runId: Annotated[
        str, required_text("runId"), WithJsonSchema({"type": "string", "minLength": 1})
    ]


def tool_schema(model: type[BaseModel], described: Mapping[str, str]) -> dict[str, Any]:
    """The model's JSON schema as a tool's input schema: each property described for a model
    reading it (`described`, before what the shared schema already says), without pydantic's
    titles and without a `null` default the validation would refuse."""
    schema = model.model_json_schema()
    properties: dict[str, Any] = {}
    for name, spec in schema.get("properties", {}).items():
        spec = {key: value for key, value in spec.items() if key != "title"}
        if spec.get("default", 0) is None:
            del spec["default"]
        text = " ".join(part for part in (described.get(name), spec.get("description")) if part)
        if text:
            spec["description"] = text
        properties[name] = spec
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if schema.get("required"):
        result["required"] = schema["required"]
    if schema.get("additionalProperties") is False:
        result["additionalProperties"] = False
    return result
