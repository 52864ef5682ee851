"""Task forms, validated by the API's own request models: a person reads the API's messages.
And the choices the form offers: artists by name."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from backbeat.dashboard import agent_fields, delivery_fields
from backbeat.domain.errors import InvalidInput
from backbeat.edge.requests import CreateTaskRequest, UpdateTaskRequest
from backbeat.edge.validation import validate
from backbeat.services.lookups import ArtistChoice
from backbeat.services.tasks import TaskDraft, TaskPatch, TaskView

FIELDS = ("title", "prompt", "schedule", "timezone", "model", "artist_account_id")
# What the form shows back: the task fields above, then its Delivery and Agent sections'.
SHOWN = FIELDS + delivery_fields.FIELDS + agent_fields.FIELDS
# A nil UUID stands in for the task id when only a schedule is checked (the preview).
_ANY_ID = "00000000-0000-0000-0000-000000000000"


@dataclass
class TaskForm:
    """What the form shows: the values (as typed, after a failure) and the first problem."""

    values: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    field: str | None = None  # the field the error is about, if any

    @classmethod
    def of(cls, view: TaskView) -> TaskForm:
        task = view.task
        return cls(
            {
                "title": task.title,
                "prompt": task.prompt,
                "schedule": task.schedule,
                "timezone": task.timezone,
                "model": task.model or "",
                "artist_account_id": str(task.artist_account_id),
            }
            | delivery_fields.values_of(task)
            | agent_fields.values_of(task)
        )

    @classmethod
    def blank(cls) -> TaskForm:
        return cls(dict.fromkeys(SHOWN, "") | {"timezone": "UTC"})

    @classmethod
    def failed(cls, form: dict[str, str], error: InvalidInput | str) -> TaskForm:
        values = {name: form.get(name, "") for name in SHOWN}
        if isinstance(error, InvalidInput):
            where = str(error.path[0]) if error.path else None
            where = (
                delivery_fields.field_of(error)
                or agent_fields.field_of(error)
                or (where if where in FIELDS else None)
            )
            return cls(values, error.message, where)
        return cls(values, error)


def _given(form: dict[str, str]) -> dict[str, Any]:
    """The form's task fields. A blank model or zone means "leave as it is" (the API has no
    way to unset a model either; a blank zone on create means the default, UTC)."""
    data: dict[str, Any] = {}
    for name in FIELDS:
        value = form.get(name)
        if value is None or (name in ("model", "timezone") and not value.strip()):
            continue
        data[name] = value
    return data


def patch_from(task_id: UUID, form: dict[str, str]) -> TaskPatch:
    """The change the edit form asks for, or InvalidInput with the API's message."""
    data = {"id": str(task_id), **_given(form), **delivery_fields.api_fields(form)}
    data |= agent_fields.api_fields(form)
    return validate(UpdateTaskRequest, data).patch()


def draft_from(form: dict[str, str], account_id: UUID | None) -> TaskDraft:
    """The task the new-task form describes, or InvalidInput with the API's message."""
    data = {name: form.get(name, "") for name in ("title", "prompt", "schedule")}
    data |= {"artist_account_id": form.get("artist_account_id", "")} | _given(form)
    data |= delivery_fields.api_fields(form) | agent_fields.api_fields(form)
    if account_id is not None:
        data["account_id"] = str(account_id)
    return validate(CreateTaskRequest, data).draft()


def check_schedule(schedule: str, timezone: str) -> None:
    """InvalidInput with the API's message if the schedule or zone would be refused."""
    data: dict[str, Any] = {"id": _ANY_ID, "schedule": schedule}
    if timezone.strip():
        data["timezone"] = timezone
    validate(UpdateTaskRequest, data)


@dataclass(frozen=True, slots=True)
class ArtistOption:
    """One entry of the artist list: the id the form posts, and the name it shows."""

    value: str
    label: str


def artist_options(choices: list[ArtistChoice]) -> list[ArtistOption]:
    """The artists to choose from, by name; two of the same name also show the start of
    their ids, to tell them apart."""
    counts = Counter(choice.name.casefold() for choice in choices)
    return [
        ArtistOption(
            str(choice.artist_id),
            choice.name
            if counts[choice.name.casefold()] == 1
            else f"{choice.name} ({str(choice.artist_id)[:8]})",
        )
        for choice in choices
    ]


def kept_artist(
    options: list[ArtistOption], artist_id: UUID, name: str | None
) -> ArtistOption | None:
    """A task's artist when it is no longer one to choose from (an organization left, say):
    the form shows it rather than quietly offering another; None when it can be chosen."""
    if any(option.value == str(artist_id) for option in options):
        return None
    return ArtistOption(str(artist_id), f"{name or artist_id} (current; no longer available)")
