"""A task's delivery setting as the doors give it, checked and made ready to store; and as it
shows once stored (the Slack URL masked). The rules are in domain.task_delivery."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from uuid import UUID

from backbeat.domain.errors import InvalidInput
from backbeat.domain.ports import SecretBox, UnitOfWork
from backbeat.domain.task_delivery import (
    WHEN_CHOICES,
    DeliverySettings,
    When,
    checked_slack_url,
    masked,
    normalised_emails,
)


class Keep(Enum):
    """The Slack URL of an update that did not mention it: the stored one stays."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class DeliveryInput:
    when: str = When.ALWAYS.value
    email: tuple[str, ...] = ()
    slack_url: str | Keep | None = KEEP  # None: no Slack


def settings_to_store(
    uow: UnitOfWork,
    box: SecretBox | None,
    owner: UUID,
    scope: tuple[UUID, ...] | None,
    given: DeliveryInput | None,
    current: DeliverySettings | None,
) -> DeliverySettings | None:
    """The setting to store for `given` (None: no delivery), checked against the owner's team
    within the task's scope, its Slack URL sealed; `current` is the stored one (sealed)."""
    if given is None:
        return None
    try:
        when = When(given.when)
    except ValueError:
        raise InvalidInput(
            f"delivery.when must be one of: {WHEN_CHOICES}", path=["delivery", "when"]
        ) from None
    team = uow.accounts.team_emails(owner, scope)
    email = normalised_emails(list(given.email), team)
    if isinstance(given.slack_url, Keep):
        slack = None if current is None else current.slack_url
    elif given.slack_url is None:
        slack = None
    else:
        if box is None:
            raise InvalidInput("Slack delivery is not available here", path=["delivery", "slack"])
        slack = box.seal(checked_slack_url(given.slack_url))
    return DeliverySettings(when=when, email=email, slack_url=slack)


def shown(box: SecretBox | None, stored: DeliverySettings | None) -> DeliverySettings | None:
    """The stored setting as the doors show it: the Slack URL masked, never whole."""
    if stored is None or stored.slack_url is None:
        return stored
    if box is None:
        return replace(stored, slack_url="(set)")
    return replace(stored, slack_url=masked(box.open(stored.slack_url)))
