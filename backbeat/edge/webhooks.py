"""Webhook endpoints at the edge (a Backbeat extension): the request bodies of /api/webhooks,
which the CLI validates alike, and endpoints and deliveries as the API shows them.

A signing secret appears in exactly two answers, the ones that issue it (`issued_json` on
creation, `rotated_json` on rotation); an endpoint as listed never carries one.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic_core import PydanticCustomError

from backbeat.domain import webhooks
from backbeat.domain.clock import iso_utc
from backbeat.domain.deliveries import Delivery, DeliveryTry
from backbeat.domain.errors import InvalidInput, NotFound
from backbeat.domain.webhooks import Endpoint
from backbeat.edge.extension import EXTENSION
from backbeat.edge.requests import OptionalAccountId, not_null
from backbeat.services.webhooks import LoggedDelivery

MAX_OVERLAP_HOURS = 168  # a week: the longest the previous secret may keep signing
ENDPOINT_NOT_FOUND = "Webhook endpoint not found"
DELIVERY_NOT_FOUND = "Webhook delivery not found"
EVENT_NAMES = [event.value for event in webhooks.EventType]

_MAX_ID_LENGTH = 200
_DELIVERY_ID = re.compile(r"delivery_[0-9A-Za-z]{1,64}")
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f]")  # control characters and spaces


def _fail(field: str, message: str) -> PydanticCustomError:
    """A field's failure, as the API reports it (edge.validation.first_issue)."""
    return PydanticCustomError("backbeat", "{message}", {"message": message, "field": field})


def _url(value: str) -> str:
    """The domain's rule (domain.webhooks.check_url), and text an HTTP request can carry."""
    try:
        url = webhooks.check_url(value)
    except InvalidInput as exc:
        raise _fail("url", exc.message) from None
    if _UNSENDABLE.search(url):
        raise _fail("url", "url must not contain spaces or control characters")
    return url


def _events(value: list[str] | None) -> list[str] | None:
    try:
        return None if value is None else [event.value for event in webhooks.parse_events(value)]
    except InvalidInput as exc:
        raise _fail("events", exc.message) from None


def _overlap(value: float | None) -> float | None:
    if value is not None and not (math.isfinite(value) and 0 <= value <= MAX_OVERLAP_HOURS):
        raise _fail("overlap_hours", f"overlap_hours must be between 0 and {MAX_OVERLAP_HOURS}")
    return value


_URL_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "description": "Where events are POSTed: an http or https URL with a host, at most "
    f"{webhooks.MAX_URL_LENGTH} characters, without credentials. Private addresses are "
    "accepted here and refused when an event is sent (unless the server allows them).",
}
_EVENTS_SCHEMA = {
    "type": "array",
    "items": {"type": "string", "enum": EVENT_NAMES},
    "minItems": 1,
    "description": "The events to receive (default: all of them).",
}
_OVERLAP_SCHEMA = {
    "type": "number",
    "minimum": 0,
    "maximum": MAX_OVERLAP_HOURS,
    "description": "How long the previous secret keeps signing too, in hours (default "
    f"{webhooks.ROTATION_OVERLAP.total_seconds() / 3600:g}; 0 retires it at once).",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=EXTENSION)


class CreateWebhookRequest(_Strict):
    """Extension: register a webhook endpoint."""

    url: Annotated[str, AfterValidator(_url), WithJsonSchema(_URL_SCHEMA)]
    events: Annotated[
        list[str] | None,
        not_null("events", "array"),
        AfterValidator(_events),
        WithJsonSchema(_EVENTS_SCHEMA),
    ] = None
    account_id: OptionalAccountId = None

    def account(self) -> UUID | None:
        return None if self.account_id is None else UUID(self.account_id)


class RotateWebhookRequest(_Strict):
    """Extension: issue a new signing secret (the body may be empty)."""

    overlap_hours: Annotated[
        float | None,
        not_null("overlap_hours", "number"),
        AfterValidator(_overlap),
        WithJsonSchema(_OVERLAP_SCHEMA),
    ] = None

    def overlap(self) -> timedelta:
        if self.overlap_hours is None:
            return webhooks.ROTATION_OVERLAP
        return timedelta(hours=self.overlap_hours)


class EnableWebhookRequest(_Strict):
    """Extension: turn a disabled endpoint back on. No fields (the body may be empty)."""


def checked_endpoint_id(raw: str) -> str:
    """An endpoint id from a path: one no endpoint can have (a NUL, which PostgreSQL will not
    even compare) is simply not found."""
    if "\x00" in raw or len(raw) > _MAX_ID_LENGTH:
        raise NotFound(ENDPOINT_NOT_FOUND)
    return raw


def checked_delivery_id(raw: str) -> str:
    if "\x00" in raw or len(raw) > _MAX_ID_LENGTH:
        raise NotFound(DELIVERY_NOT_FOUND)
    return raw


def delivery_id_param(name: str, raw: str) -> str:
    """`before`: the id of a delivery (`delivery_…`), as a page of the log listed it."""
    if not _DELIVERY_ID.fullmatch(raw):
        raise InvalidInput(f"{name} must be a delivery id (delivery_…)", [name])
    return raw


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_utc(value)


def endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    """An endpoint as listed: never its secrets."""
    return {
        "id": endpoint.id,
        "account_id": str(endpoint.account_id),
        "url": endpoint.url,
        "events": [event.value for event in endpoint.events],
        "enabled": endpoint.enabled,
        "created_at": iso_utc(endpoint.created_at),
        "updated_at": iso_utc(endpoint.updated_at),
        "failing_since": _iso(endpoint.failing_since),
        "disabled_at": _iso(endpoint.disabled_at),
        "disabled_reason": endpoint.disabled_reason,
        "previous_secret_valid_until": _iso(endpoint.previous_secret_until),
    }


def issued_json(endpoint: Endpoint, secret: str) -> dict[str, Any]:
    """A new endpoint, with its signing secret (shown this once)."""
    return {**endpoint_json(endpoint), "secret": secret}


def rotated_json(endpoint: Endpoint, secret: str) -> dict[str, Any]:
    """A rotation: the new secret (shown this once), and until when the old one signs too."""
    return {
        "id": endpoint.id,
        "secret": secret,
        "previous_secret_valid_until": _iso(endpoint.previous_secret_until),
    }


def try_json(attempt: DeliveryTry) -> dict[str, Any]:
    return {
        "number": attempt.number,
        "at": iso_utc(attempt.at),
        "outcome": attempt.outcome.value,
        "detail": attempt.detail,
    }


def delivery_json(delivery: Delivery, tries: list[DeliveryTry] | None = None) -> dict[str, Any]:
    """One event sent (or to be sent) to an endpoint; its id is the `webhook-id` header.
    `tries` is left out when not read (a resend answers the delivery alone)."""
    body: dict[str, Any] = {
        "id": delivery.id,
        "endpoint_id": delivery.recipient,
        "event": delivery.subject or "",
        "run_id": delivery.run_id,
        "status": delivery.status.value,
        "created_at": iso_utc(delivery.created_at),
        "sent_at": _iso(delivery.sent_at),
        "next_try_at": _iso(delivery.next_try_at),
        "error": delivery.error,
    }
    if tries is not None:
        body["tries"] = [try_json(attempt) for attempt in tries]
    return body


def logged_json(logged: LoggedDelivery) -> dict[str, Any]:
    return {**delivery_json(logged.delivery, logged.tries), "event": logged.event}
