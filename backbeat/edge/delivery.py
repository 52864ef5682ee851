"""The task's `delivery` extension field, as every door reads and writes it (the rules are
domain.task_delivery's; the service checks the team and seals the Slack URL).

Written as `{"when": "always" | "changed" | "never", "email": [addresses], "slack":
{"webhook_url": …} | null}`; on an update, a `delivery` without `slack` keeps the stored
Slack URL, and `"delivery": null` removes the setting. Read back with the Slack URL masked.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from backbeat.domain.task_delivery import DeliverySettings
from backbeat.edge.extension import EXTENSION as _EXTENSION
from backbeat.services.task_delivery import KEEP, DeliveryInput


class SlackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    webhook_url: str = Field(
        min_length=1, max_length=2048, description="A Slack incoming webhook URL (a secret)."
    )


class DeliveryRequest(BaseModel):
    """Extension: where a completed run's report goes."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=_EXTENSION)

    when: Literal["always", "changed", "never"] = "always"
    email: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Addresses of the task's owner or members of the owner's organizations.",
    )
    slack: SlackRequest | None = None

    def given(self) -> DeliveryInput:
        if "slack" not in self.model_fields_set:
            slack: str | Any | None = KEEP
        else:
            slack = None if self.slack is None else self.slack.webhook_url
        return DeliveryInput(when=self.when, email=tuple(self.email), slack_url=slack)


def delivery_json(settings: DeliverySettings | None) -> dict[str, Any] | None:
    """As the doors show it (the service has masked the Slack URL already)."""
    if settings is None:
        return None
    return {
        "when": settings.when.value,
        "email": list(settings.email),
        "slack": None if settings.slack_url is None else {"webhook_url": settings.slack_url},
    }
