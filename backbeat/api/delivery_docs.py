"""The served schema of the task's `delivery` extension field, as tasks carry it."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypedDict

from backbeat.edge.extension import EXTENSION as _EXTENSION


class SlackShown(TypedDict):
    webhook_url: Annotated[
        str, Field(description="The incoming webhook's host and last four characters only.")
    ]


class TaskDelivery(TypedDict):
    when: Annotated[
        Literal["always", "changed", "never"],
        Field(
            description="always; changed: only when the report differs in substance from the "
            "last one delivered (the model's verdict, with a 'what changed' paragraph); never: "
            "the run page only."
        ),
    ]
    email: Annotated[list[str], Field(description="Report recipients, all on the owner's team.")]
    slack: SlackShown | None


DELIVERY_FIELD = Field(
    description="Extension: where a completed run's report goes; null: nowhere automatically "
    "(the model's own send_email only).",
    json_schema_extra=_EXTENSION,
)
