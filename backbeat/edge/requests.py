"""Request bodies: Pydantic models whose errors carry the real Recoup service's messages.

Each validator raises PydanticCustomError with the final, human message; the API turns the
first error into `{"error": message, "missing_fields": [field]}` (api/validation.py).
"""

from __future__ import annotations

import re
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

from backbeat.domain.cron import (
    MAX_SCHEDULE_LENGTH,
    MAX_TIMEZONE_LENGTH,
    Schedule,
    ScheduleError,
    is_valid_zone,
)
from backbeat.edge.agent_fields import MaxOutputTokens, MaxRunCost, ModelTimeout, Tools
from backbeat.edge.delivery import DeliveryRequest
from backbeat.edge.extension import EXTENSION as _EXTENSION
from backbeat.services.tasks import TaskDraft, TaskPatch

# Zod's UUID rule: 8-4-4-4-12 hex, version 1-8, variant 8/9/a/b, or the nil / max UUIDs.
_UUID = re.compile(
    r"^([0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
    r"|00000000-0000-0000-0000-000000000000|ffffffff-ffff-ffff-ffff-ffffffffffff)$",
    re.IGNORECASE,
)

# The longest text each task field takes (in characters), checked before anything else reads
# it, a schedule before it is parsed. The real service has no caps; README.md lists these.
MAX_LENGTHS: dict[str, int] = {
    "title": 200,
    "prompt": 20_000,
    "schedule": MAX_SCHEDULE_LENGTH,
    "timezone": MAX_TIMEZONE_LENGTH,
    "model": 200,
}


def is_uuid(value: str) -> bool:
    return _UUID.match(value) is not None


def _fail(field: str, message: str) -> PydanticCustomError:
    return PydanticCustomError("backbeat", "{message}", {"message": message, "field": field})


def _within_cap(field: str, value: str) -> str:
    limit = MAX_LENGTHS.get(field)
    if limit is not None and len(value) > limit:
        raise _fail(field, f"{field} must be at most {limit:,} characters")
    return value


def _storable(field: str, value: str) -> str:
    """Text the databases can keep: not over its cap, no NUL (PostgreSQL refuses it), valid
    UTF-8."""
    _within_cap(field, value)
    if "\x00" in value:
        raise _fail(field, f"{field} must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(field, f"{field} must be valid UTF-8 text") from None
    return value


def uuid_text(field: str) -> AfterValidator:
    def check(value: str) -> str:
        if not is_uuid(value):
            raise _fail(field, f"{field} must be a valid UUID")
        return value.lower()

    return AfterValidator(check)


def required_text(field: str) -> AfterValidator:
    """POST: an empty string counts as missing (the real service's message)."""

    def check(value: str) -> str:
        if value == "":
            raise _fail(field, f"{field} parameter is required")
        return _storable(field, value)

    return AfterValidator(check)


def nonempty_text(field: str) -> AfterValidator:
    """PATCH (and Backbeat's POST `model`): if sent, a non-empty string."""

    def check(value: str) -> str:
        if value == "":
            raise _fail(field, f"{field} must be a non-empty string")
        return _storable(field, value)

    return AfterValidator(check)


def _cron(value: str) -> str:
    try:
        Schedule.parse(value)
    except ScheduleError as exc:
        raise _fail("schedule", exc.message) from None
    return value


def not_null(field: str, expected: str = "string") -> BeforeValidator:
    """Absent is fine, an explicit JSON null is the real service's type error."""

    def check(value: object) -> object:
        if value is None:
            raise _fail(field, f"Invalid input: expected {expected}, received null")
        return value

    return BeforeValidator(check)


def _zone(value: str) -> str:
    _within_cap("timezone", value)
    if not is_valid_zone(value):
        raise _fail("timezone", "timezone must be a valid IANA time zone")
    return value


def _grace(value: int | None) -> int | None:
    if value is not None and not 0 <= value <= 2_592_000:
        raise _fail(
            "misfire_grace_seconds", "misfire_grace_seconds must be between 0 and 2592000 (30 days)"
        )
    return value


def _pause_after(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 100:
        raise _fail("pause_after_failures", "pause_after_failures must be between 1 and 100")
    return value


def _attempts(value: int | None) -> int | None:
    if value is not None and not 1 <= value <= 20:
        raise _fail("max_attempts", "max_attempts must be between 1 and 20")
    return value


def _text_schema(field: str, description: str = "") -> dict[str, Any]:
    """A text field's schema. The cap is stated in words: `maxLength` is a keyword the
    Recoup contract does not have (tests/api/test_openapi_agreement.py holds them equal)."""
    cap = f"Backbeat: at most {MAX_LENGTHS[field]:,} characters."
    return {"type": "string", "minLength": 1, "description": f"{description} {cap}".strip()}


_UUID_SCHEMA = {"type": "string", "format": "uuid"}
_TITLE_SCHEMA = _text_schema("title")
_PROMPT_SCHEMA = _text_schema("prompt")
_MODEL_SCHEMA = _text_schema("model")
_CRON_SCHEMA = _text_schema(
    "schedule",
    "Cron expression (5 fields, or a macro such as @daily) evaluated in "
    "`timezone`, e.g. '0 9 * * 4' for Thursdays at 9 AM.",
)
_ZONE_SCHEMA = _text_schema(
    "timezone",
    "IANA time zone the cron is evaluated in (default UTC); names that depend on the host "
    "(`localtime`, `posixrules`, `Factory`, `posix/…`, `right/…`) are refused.",
)
_GRACE_SCHEMA = {
    "type": ["integer", "null"],
    "minimum": 0,
    "maximum": 2_592_000,
    "description": "Extension: fires missed by at most this many seconds are caught up "
    "once (server default when null).",
    **_EXTENSION,
}
_ATTEMPTS_SCHEMA = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": 20,
    "description": "Extension: attempts per run before it fails (server default when null).",
    **_EXTENSION,
}

# Optional fields are `X | None = None` so that "absent" is None; an explicit null is still
# refused (not_null) except where the contract allows it (`enabled`, the extensions).
GraceSeconds = Annotated[int | None, AfterValidator(_grace), WithJsonSchema(_GRACE_SCHEMA)]
MaxAttempts = Annotated[int | None, AfterValidator(_attempts), WithJsonSchema(_ATTEMPTS_SCHEMA)]
_PAUSE_SCHEMA = {
    "type": ["integer", "null"],
    "minimum": 1,
    "maximum": 100,
    "description": "Extension: pause the task after this many failed runs in a row (never "
    "when null).",
    **_EXTENSION,
}
PauseAfter = Annotated[int | None, AfterValidator(_pause_after), WithJsonSchema(_PAUSE_SCHEMA)]
Delivery = Annotated[
    DeliveryRequest | None,
    Field(
        description="Extension: where a completed run's report goes (null: nowhere "
        "automatically; on an update, null removes the setting).",
        json_schema_extra=_EXTENSION,
    ),
]
OptionalAccountId = Annotated[
    str | None, not_null("account_id"), uuid_text("account_id"), WithJsonSchema(_UUID_SCHEMA)
]
OptionalModel = Annotated[
    str | None, not_null("model"), nonempty_text("model"), WithJsonSchema(_MODEL_SCHEMA)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CreateTaskRequest(_Strict):
    """Task to create."""

    title: Annotated[str, required_text("title"), WithJsonSchema(_TITLE_SCHEMA)]
    prompt: Annotated[str, required_text("prompt"), WithJsonSchema(_PROMPT_SCHEMA)]
    schedule: Annotated[
        str, required_text("schedule"), AfterValidator(_cron), WithJsonSchema(_CRON_SCHEMA)
    ]
    account_id: OptionalAccountId = None
    artist_account_id: Annotated[
        str,
        required_text("artist_account_id"),
        uuid_text("artist_account_id"),
        WithJsonSchema(_UUID_SCHEMA),
    ]
    timezone: Annotated[
        str, not_null("timezone"), AfterValidator(_zone), WithJsonSchema(_ZONE_SCHEMA)
    ] = "UTC"
    model: OptionalModel = None
    misfire_grace_seconds: GraceSeconds = None
    max_attempts: MaxAttempts = None
    delivery: Delivery = None
    pause_after_failures: PauseAfter = None
    tools: Tools = None
    max_run_cost_usd: MaxRunCost = None
    max_output_tokens: MaxOutputTokens = None
    model_timeout_seconds: ModelTimeout = None

    def draft(self) -> TaskDraft:
        """What TaskService.create takes (the API, the dashboard and the CLI all build it so)."""
        return TaskDraft(
            title=self.title,
            prompt=self.prompt,
            schedule=self.schedule,
            artist_account_id=UUID(self.artist_account_id),
            account_id=None if self.account_id is None else UUID(self.account_id),
            timezone=self.timezone,
            model=self.model,
            misfire_grace_seconds=self.misfire_grace_seconds,
            max_attempts=self.max_attempts,
            delivery=None if self.delivery is None else self.delivery.given(),
            pause_after_failures=self.pause_after_failures,
            tools=self.tools,
            max_run_cost_usd=self.max_run_cost_usd,
            max_output_tokens=self.max_output_tokens,
            model_timeout_seconds=self.model_timeout_seconds,
        )


class UpdateTaskRequest(_Strict):
    """JSON object with `id` and optional fields to merge onto the task."""

    id: Annotated[str, uuid_text("id"), WithJsonSchema(_UUID_SCHEMA)]
    title: Annotated[
        str | None, not_null("title"), nonempty_text("title"), WithJsonSchema(_TITLE_SCHEMA)
    ] = None
    prompt: Annotated[
        str | None, not_null("prompt"), nonempty_text("prompt"), WithJsonSchema(_PROMPT_SCHEMA)
    ] = None
    schedule: Annotated[
        str | None,
        not_null("schedule"),
        nonempty_text("schedule"),
        AfterValidator(_cron),
        WithJsonSchema(_CRON_SCHEMA),
    ] = None
    account_id: OptionalAccountId = None
    artist_account_id: Annotated[
        str | None,
        not_null("artist_account_id"),
        uuid_text("artist_account_id"),
        WithJsonSchema(_UUID_SCHEMA),
    ] = None
    enabled: bool | None = None
    model: OptionalModel = None
    timezone: Annotated[
        str | None, not_null("timezone"), AfterValidator(_zone), WithJsonSchema(_ZONE_SCHEMA)
    ] = None
    misfire_grace_seconds: GraceSeconds = None
    max_attempts: MaxAttempts = None
    delivery: Delivery = None
    pause_after_failures: PauseAfter = None
    tools: Tools = None
    max_run_cost_usd: MaxRunCost = None
    max_output_tokens: MaxOutputTokens = None
    model_timeout_seconds: ModelTimeout = None

    def patch(self) -> TaskPatch:
        """What TaskService.update takes: the fields the request gave, the rest UNSET."""
        given: dict[str, Any] = {}
        for name in self.model_fields_set & set(TaskPatch.__dataclass_fields__):
            value = getattr(self, name)
            if name == "artist_account_id":
                value = UUID(value)
            elif name == "delivery" and value is not None:
                value = value.given()
            given[name] = value
        return TaskPatch(**given)  # the fields not given stay UNSET


class DeleteTaskRequest(BaseModel):
    """Unknown keys are ignored here, as the real service does."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: Annotated[str, uuid_text("id"), WithJsonSchema(_UUID_SCHEMA)]
    account_id: OptionalAccountId = None


class TriggerRunRequest(_Strict):
    """Extension: run a task now."""

    task_id: Annotated[str, uuid_text("task_id"), WithJsonSchema(_UUID_SCHEMA)]
    account_id: OptionalAccountId = None
    is_test: Annotated[
        bool | None,
        not_null("is_test", "boolean"),
        WithJsonSchema({"type": "boolean", "description": "Mark the run as a test run."}),
    ] = None


class CancelRunRequest(_Strict):
    """Extension: cancel a queued, waiting or executing run."""

    runId: Annotated[
        str,
        required_text("runId"),
        WithJsonSchema({"type": "string", "minLength": 1, "description": "A run id (`run_…`)."}),
    ]
