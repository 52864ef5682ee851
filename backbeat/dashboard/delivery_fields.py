"""The task form's Delivery section: where a completed run's report goes and when the task
pauses itself, read from the form as the API's own `delivery` and `pause_after_failures`
fields (the request models and TaskService check them as for the API), and shown back.

The Slack webhook URL is a secret: the form never shows it back (not even after a refused
save); an empty Slack input keeps the stored URL, "Remove Slack" removes it.
"""

from __future__ import annotations

import re
from typing import Any

from backbeat.domain.errors import InvalidInput
from backbeat.domain.models import Task
from backbeat.domain.task_delivery import MAX_EMAIL_RECIPIENTS, When

WHEN = "delivery_when"
EMAIL = "delivery_email"
SLACK = "delivery_slack"  # never shown back
REMOVE_SLACK = "delivery_slack_remove"
PAUSE = "pause_after_failures"
# The section's fields whose value the form shows back (the Slack URL is not one).
FIELDS = (WHEN, EMAIL, REMOVE_SLACK, PAUSE)
# Where the service's and the request models' messages point, by `path`.
_FIELD_OF = {"when": WHEN, "email": EMAIL, "slack": SLACK}

WHEN_CHOICES = (
    ("", "Only what the model emails (default)"),
    (When.ALWAYS.value, "Always"),
    (When.CHANGED.value, "Only when the report changed"),
    (When.NEVER.value, "Keep on the run page only"),
)
_WHEN_SHOWN = {
    "": "only what the model emails",
    "always": "always",
    "changed": "only when the report changed",
    "never": "run page only",
}


def values_of(task: Task) -> dict[str, str]:
    """The section as the edit form first shows it."""
    delivery = task.delivery
    pause = task.pause_after_failures
    return {
        WHEN: "" if delivery is None else delivery.when.value,
        EMAIL: "" if delivery is None else ", ".join(delivery.email),
        REMOVE_SLACK: "",
        PAUSE: "" if pause is None else str(pause),
    }


def _addresses(text: str) -> list[str]:
    return [part for part in re.split(r"[,;\s]+", text) if part]


def _count(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"-?[0-9]{1,6}", text):
        raise InvalidInput("pause_after_failures must be a whole number between 1 and 100", [PAUSE])
    return int(text)


def api_fields(form: dict[str, str]) -> dict[str, Any]:
    """The section as the API's request fields, for the fields the form sent (a form without
    them leaves the task's setting as it is). The first choice, "only what the model emails",
    is no delivery setting: the recipients are then not used."""
    data: dict[str, Any] = {}
    if WHEN in form:
        when = form[WHEN].strip()
        if when not in dict(WHEN_CHOICES):
            message = "delivery.when must be one of: always, changed, never"
            raise InvalidInput(message, ["delivery", "when"])
        if not when:
            data["delivery"] = None
        else:
            emails = _addresses(form.get(EMAIL, ""))
            if len(emails) > MAX_EMAIL_RECIPIENTS:
                message = f"at most {MAX_EMAIL_RECIPIENTS} email recipients"
                raise InvalidInput(message, ["delivery", "email"])
            delivery: dict[str, Any] = {"when": when, "email": emails}
            url = form.get(SLACK, "").strip()
            if form.get(REMOVE_SLACK):
                delivery["slack"] = None
            elif url:
                delivery["slack"] = {"webhook_url": url}
            data["delivery"] = delivery  # without "slack": the stored URL stays
    if PAUSE in form:
        data[PAUSE] = _count(form[PAUSE])
    return data


def field_of(error: InvalidInput) -> str | None:
    """The section's field an error is about, if it is one of them."""
    path = [str(part) for part in error.path]
    if path[:1] == [PAUSE]:
        return PAUSE
    if path[:1] == ["delivery"]:
        return _FIELD_OF.get(path[1] if len(path) > 1 else "when", WHEN)
    return None


def summary(task: Task) -> str:
    """One line for the task's page: when reports are sent, to which channels, and when the
    task pauses itself. The Slack URL shows as the service masked it."""
    delivery = task.delivery
    parts = [f"Reports sent: {_WHEN_SHOWN['' if delivery is None else delivery.when.value]}"]
    if delivery is not None:
        channels = []
        if delivery.email:
            channels.append("email to " + ", ".join(delivery.email))
        if delivery.slack_url:
            channels.append(f"Slack ({delivery.slack_url})")
        parts.append("; ".join(channels) if channels else "no channels")
    pause = task.pause_after_failures
    parts.append(
        "never paused for failures"
        if pause is None
        else f"pauses after {pause} failed run{'s' if pause != 1 else ''} in a row"
    )
    return " · ".join(parts)
