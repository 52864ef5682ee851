"""Where a task's report goes once a run completes (the task's `delivery` extension field):
pure rules, no framework.

Without a delivery setting (`None`, the default) nothing is sent automatically: the model
sends what it chooses with `send_email`, as before. With one, a completed run's final output
is delivered, through the outbox, to each channel given:

- **email** to the addresses listed, each the task owner's or a member's of the owner's
  organizations (within the task's scope), never anyone else's;
- **Slack** through an incoming webhook URL (a secret: stored sealed, shown masked).

`when` says whether a completed run delivers: `always`; `changed`, only when its report
differs in substance from the last one the team got (the model's verdict, recorded on the run
with a one-paragraph "what changed" that goes out with the report); or `never` (the report
stays on the run's page). The account's webhook endpoints get every run's events whatever this says
(domain.webhooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from backbeat.domain.errors import InvalidInput

MAX_EMAIL_RECIPIENTS = 20
SLACK = "slack"  # the recipient key of a run's Slack delivery (one per run)


class When(StrEnum):
    ALWAYS = "always"
    CHANGED = "changed"
    NEVER = "never"


WHEN_CHOICES = ", ".join(each.value for each in When)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    when: When = When.ALWAYS
    email: tuple[str, ...] = ()  # lower case, on the owner's team
    slack_url: str | None = None  # an incoming webhook URL; sealed in the store

    @property
    def delivers(self) -> bool:
        return self.when is not When.NEVER and bool(self.email or self.slack_url)

    @property
    def compares(self) -> bool:
        """Whether a run asks the model for a verdict on its report before delivering it."""
        return self.when is When.CHANGED and self.delivers


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a run's report changed in substance since the last one the team got, as the
    run records it (`output["verdict"]`). Without an earlier report, or when the model gave
    no usable verdict, it counts as changed: a report is never held back on a guess."""

    changed: bool
    what_changed: str | None = None  # one paragraph, sent with the report
    compared_with: str | None = None  # the run whose delivered report it was compared with
    note: str | None = None  # why there was no comparison ("first report", an error)

    def as_json(self) -> dict[str, object]:
        return {
            "changed": self.changed,
            "what_changed": self.what_changed,
            "compared_with": self.compared_with,
            "note": self.note,
        }

    @classmethod
    def from_output(cls, output: dict[str, object] | None) -> Verdict | None:
        raw = (output or {}).get("verdict")
        if not isinstance(raw, dict):
            return None
        return cls(
            changed=raw.get("changed") is not False,
            what_changed=_text_or_none(raw.get("what_changed")),
            compared_with=_text_or_none(raw.get("compared_with")),
            note=_text_or_none(raw.get("note")),
        )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def normalised_emails(addresses: list[str], team: set[str]) -> tuple[str, ...]:
    """The addresses in lower case, without repeats, each checked against the owner's team
    (`team`, lower case)."""
    found: list[str] = []
    for index, given in enumerate(addresses):
        address = given.strip().lower()
        if "@" not in address or len(address) > 254:
            raise InvalidInput(
                f"{given!r} is not an email address", path=["delivery", "email", index]
            )
        if address not in team:
            raise InvalidInput(
                f"{address} is not the task's owner or a member of the owner's organizations",
                path=["delivery", "email", index],
            )
        if address not in found:
            found.append(address)
    if len(found) > MAX_EMAIL_RECIPIENTS:
        raise InvalidInput(
            f"at most {MAX_EMAIL_RECIPIENTS} email recipients", path=["delivery", "email"]
        )
    return tuple(found)


def checked_slack_url(url: str) -> str:
    # Imported here: domain.webhooks imports the models, which import this module.
    from backbeat.domain.webhooks import check_url

    try:
        checked = check_url(url)
    except InvalidInput as exc:
        raise InvalidInput(
            exc.message.replace("url", "slack webhook_url", 1),
            path=["delivery", "slack", "webhook_url"],
        ) from None
    return checked


def masked(url: str) -> str:
    """How a Slack URL shows once stored: its host and the last four characters."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}/…{url[-4:]}"
