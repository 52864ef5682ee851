"""Webhook endpoints and the events they receive, by the Standard Webhooks specification
(https://www.standardwebhooks.com): pure rules, no HTTP and no crypto library.

An endpoint belongs to an account and receives the events of that account's tasks that it
subscribed to. Each event is one delivery per endpoint (domain.deliveries), whose id is the
`webhook-id`: stable across retries, so a receiver drops repeats. Unlike email, webhooks are
delivered **at least once**: anything but a 2xx answer (a timeout included) is tried again on
a growing schedule of about a day, then the delivery is `failed` and visible. A receiver that
answered 2xx is never called again for that event.

Signing (`sign`): `webhook-signature` is `v1,` + base64(HMAC-SHA256(secret, "id.timestamp.body")),
where the secret is the bytes after `whsec_` in base64. During a rotation's overlap the
message carries one signature per live secret, space-separated, as the specification allows.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from backbeat.domain.clock import iso_utc
from backbeat.domain.deliveries import Delivery
from backbeat.domain.errors import InvalidInput
from backbeat.domain.models import Run, Task
from backbeat.domain.runs import RunStatus

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix the specification names, not a secret
SECRET_BYTES = 32
MAX_URL_LENGTH = 2048
ROTATION_OVERLAP = timedelta(hours=24)  # the old secret still signs, for receivers to switch
DISABLE_AFTER = timedelta(days=3)  # failing this long without one success: disabled, owner told

# Delays before each retry: the first try is at once (Standard Webhooks' own example).
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


class EventType(StrEnum):
    RUN_COMPLETED = "run.completed"
    RUN_FAILED = "run.failed"  # FAILED, CRASHED or SYSTEM_FAILURE: the run's status says which
    RUN_CANCELED = "run.canceled"
    # Backbeat paused the task: its runs failed `pause_after_failures` times in a row. (A
    # pause by a person is not an event: they know.)
    TASK_PAUSED = "task.paused"


ALL_EVENTS = tuple(EventType)


def event_of(status: RunStatus) -> EventType | None:
    """The event a run that reached `status` raises; None while it is not final."""
    if status is RunStatus.COMPLETED:
        return EventType.RUN_COMPLETED
    if status is RunStatus.CANCELED:
        return EventType.RUN_CANCELED
    if status.is_final:
        return EventType.RUN_FAILED
    return None


def parse_events(names: list[str] | None) -> tuple[EventType, ...]:
    """The event types named (all of them when None); unknown names are refused."""
    if names is None:
        return ALL_EVENTS
    known = {event.value: event for event in EventType}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidInput(
            f"unknown webhook event {unknown[0]!r}: use {', '.join(known)}", path=["events"]
        )
    if not names:
        raise InvalidInput("subscribe to at least one event", path=["events"])
    return tuple(dict.fromkeys(known[name] for name in names))


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one try of a message."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            signature(secret, message_id, timestamp, body) for secret in secrets_
        ),
    }


@dataclass(frozen=True, slots=True)
class Endpoint:
    id: str
    account_id: UUID
    url: str
    events: tuple[EventType, ...]
    secret: str  # whsec_…; stored encrypted
    created_at: datetime
    updated_at: datetime
    previous_secret: str | None = None  # signs too until previous_secret_until
    previous_secret_until: datetime | None = None
    failing_since: datetime | None = None  # the first failed try since the last success
    disabled_at: datetime | None = None
    disabled_reason: str | None = None

    @property
    def enabled(self) -> bool:
        return self.disabled_at is None

    def wants(self, event: EventType) -> bool:
        return self.enabled and event in self.events

    def signing_secrets(self, now: datetime) -> list[str]:
        live = [self.secret]
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > now:
            live.append(self.previous_secret)
        return live


def rotate(endpoint: Endpoint, now: datetime, overlap: timedelta = ROTATION_OVERLAP) -> Endpoint:
    return replace(
        endpoint,
        secret=new_secret(),
        previous_secret=endpoint.secret if overlap > timedelta(0) else None,
        previous_secret_until=now + overlap if overlap > timedelta(0) else None,
        updated_at=now,
    )


def after_try(endpoint: Endpoint, accepted: bool, now: datetime) -> Endpoint:
    """The endpoint after one of its deliveries was tried: a success clears its failing
    streak; a failure starts one, and one that has lasted DISABLE_AFTER disables it."""
    if accepted:
        return endpoint if endpoint.failing_since is None else replace(endpoint, failing_since=None)
    since = endpoint.failing_since or now
    if endpoint.enabled and now - since >= DISABLE_AFTER:
        days = (now - since).days
        return replace(
            endpoint,
            failing_since=since,
            disabled_at=now,
            disabled_reason=f"every delivery failed for {days} days",
            updated_at=now,
        )
    return endpoint if endpoint.failing_since == since else replace(endpoint, failing_since=since)


def event_body(event: EventType, run: Run, now: datetime, run_url: str | None) -> dict[str, Any]:
    """The JSON an endpoint receives for a run's event: Standard Webhooks' {type, timestamp,
    data}. `data.run` is the run as GET /api/tasks/runs shows it, plus its report's text."""
    output = run.output or {}
    data: dict[str, Any] = {
        "run": {
            "id": run.id,
            "task_id": None if run.task_id is None else str(run.task_id),
            "title": run.task_title,
            "status": run.status.value,
            "trigger": run.trigger.value,
            "scheduled_for": None if run.scheduled_for is None else iso_utc(run.scheduled_for),
            "created_at": iso_utc(run.created_at),
            "finished_at": None if run.finished_at is None else iso_utc(run.finished_at),
            "attempts": run.attempt_count,
            "error": run.error,
            "report": output.get("text"),
        },
        "account_id": str(run.account_id),
    }
    if run_url:
        data["run"]["url"] = run_url
    if isinstance(output.get("verdict"), dict):  # a task delivered `when: changed`
        data["run"]["verdict"] = output["verdict"]
    return {"type": event.value, "timestamp": iso_utc(now), "data": data}


def task_paused_body(
    task: Task, run: Run, failed_runs: int, now: datetime, run_url: str | None
) -> dict[str, Any]:
    """The JSON of a task.paused event: the task, why, and the run whose failure paused it."""
    data: dict[str, Any] = {
        "task": {
            "id": str(task.id),
            "title": task.title,
            "enabled": False,
            "reason": "pause_after_failures",
            "pause_after_failures": task.pause_after_failures,
            "failed_runs_in_a_row": failed_runs,
        },
        "run": {"id": run.id, "status": run.status.value, "error": run.error},
        "account_id": str(task.account_id),
    }
    if run_url:
        data["run"]["url"] = run_url
    return {"type": EventType.TASK_PAUSED.value, "timestamp": iso_utc(now), "data": data}


def disabled_notice(endpoint: Endpoint, last: Delivery) -> tuple[str, str]:
    """The email (subject, plain text) that tells an endpoint's owner it was disabled."""
    since = "" if endpoint.failing_since is None else f" since {iso_utc(endpoint.failing_since)}"
    subject = f"Webhook endpoint disabled: {endpoint.url}"[:200]
    body = "\n".join(
        [
            f"Backbeat disabled your webhook endpoint {endpoint.url} ({endpoint.id}).",
            "",
            f"Every delivery to it failed{since}: {endpoint.disabled_reason or 'failing'}.",
            f"The last try was of a {last.subject or 'run'} event; its error: "
            f"{last.error or 'none recorded'}.",
            "",
            "It receives no new events until it is enabled again. Once the receiver works, "
            "enable it on the dashboard's Webhooks page, with `backbeat webhooks enable "
            f"{endpoint.id}`, or with POST /api/webhooks/{endpoint.id}/enable. Events that "
            "failed meanwhile are in its delivery log and can be re-sent.",
        ]
    )
    return subject, body


def check_url(url: str) -> str:
    """The endpoint's URL as given, if it is one Backbeat may post to (http or https, with a
    host; private addresses are checked at send time, where the name resolves)."""
    from urllib.parse import urlsplit

    url = url.strip()
    if not url:
        raise InvalidInput("url is required", path=["url"])
    if len(url) > MAX_URL_LENGTH:
        raise InvalidInput(f"url is longer than {MAX_URL_LENGTH} characters", path=["url"])
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidInput("url is not a valid URL", path=["url"]) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("url must be an http or https URL with a host", path=["url"])
    if parts.username or parts.password:
        raise InvalidInput("url must not carry credentials", path=["url"])
    return url
