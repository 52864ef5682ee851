"""The account's webhook endpoints (Standard Webhooks): the list and the form that adds one,
an endpoint's page with its delivery log (each try's time and status code) and resending,
rotating its signing secret, enabling it again, and removing it after a confirmation.

A signing secret is shown once, in the answer to the form that issued it (an add or a
rotation): it is never put in a URL, the session or a log, and no page shows it again. The
forms are read by the API's own request models (edge.webhooks): a person reads the API's
messages. An endpoint is reached only through the account the dashboard acts for: another
account's is not found, as the tasks are.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from backbeat.dashboard.dependencies import FormDep, ViewerDep
from backbeat.dashboard.web import NOTICES, DashboardRoute, PageNotFound, page, redirect
from backbeat.domain.deliveries import DeliveryStatus, DeliveryTry, SendOutcome
from backbeat.domain.errors import Conflict, InvalidInput, NotFound
from backbeat.domain.webhooks import ROTATION_OVERLAP, Endpoint, EventType
from backbeat.edge.context import backbeat
from backbeat.edge.validation import validate
from backbeat.edge.webhooks import (
    MAX_OVERLAP_HOURS,
    CreateWebhookRequest,
    RotateWebhookRequest,
    checked_delivery_id,
    delivery_id_param,
)
from backbeat.services.lookups import Viewer
from backbeat.services.webhooks import LoggedDelivery
from backbeat.wiring import Backbeat

router = APIRouter(route_class=DashboardRoute, include_in_schema=False)

WEBHOOKS = "/dashboard/webhooks"
ENDPOINT_NOT_FOUND = "There is no such webhook endpoint in this account."
DELIVERY_NOT_FOUND = "There is no such webhook delivery in this account."
LOG_PAGE = 20  # deliveries a page of the log shows
DEFAULT_OVERLAP_HOURS = f"{ROTATION_OVERLAP.total_seconds() / 3600:g}"
# Success messages after a redirect, by code (as web.NOTICES: never text from the URL).
WEBHOOK_NOTICES = {
    "webhook-enabled": "Endpoint enabled: it receives events again.",
    "webhook-removed": "Endpoint removed: it receives nothing from now on.",
    "webhook-resent": "Delivery queued to be sent again, under the same webhook-id.",
}
EVENT_LABELS = {  # by the event's name: one not listed shows by its name alone
    "run.completed": "A run completed",
    "run.failed": "A run failed (failed, crashed or a system failure)",
    "run.canceled": "A run was canceled",
    "task.paused": "A task was paused by its failed runs in a row",
}
DELIVERY_CLASSES = {  # a delivery's state as the status badge colours it
    DeliveryStatus.SENT: "ok",
    DeliveryStatus.PENDING: "live",
    DeliveryStatus.SENDING: "live",
    DeliveryStatus.UNCONFIRMED: "muted",
}
OUTCOMES = {
    SendOutcome.ACCEPTED: "accepted",
    SendOutcome.TEMPORARY: "not accepted",
    SendOutcome.PERMANENT: "not accepted, not tried again",
    SendOutcome.UNCONFIRMED: "unconfirmed",
    SendOutcome.REFUSED: "refused",
}
_HTTP_STATUS = re.compile(r"HTTP ([1-5][0-9]{2})")


@dataclass(frozen=True, slots=True)
class EventChoice:
    """One checkbox of the add form: the field it posts (a form sends a name once) and the
    event it stands for."""

    name: str
    value: str
    label: str


EVENT_CHOICES = tuple(
    EventChoice(
        "event_" + event.value.replace(".", "_"), event.value, EVENT_LABELS.get(event.value, "")
    )
    for event in EventType
)


@dataclass
class EndpointForm:
    """What the add form shows: the values (as sent, after a failure) and the first problem."""

    url: str = ""
    events: frozenset[str] = frozenset(choice.value for choice in EVENT_CHOICES)
    error: str | None = None
    field: str | None = None  # "url" or "events"

    @classmethod
    def of(cls, form: dict[str, str]) -> EndpointForm:
        chosen = frozenset(choice.value for choice in EVENT_CHOICES if form.get(choice.name))
        return cls(form.get("url", ""), chosen)

    def failed(self, error: InvalidInput) -> EndpointForm:
        where = str(error.path[0]) if error.path else None
        return EndpointForm(self.url, self.events, error.message, where)


@dataclass
class RotateForm:
    overlap_hours: str = DEFAULT_OVERLAP_HOURS
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TryRow:
    number: int
    at: datetime
    status_code: str | None  # the receiver's HTTP status, when it answered
    detail: str  # what happened, when there is no status code to show
    outcome: str


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    logged: LoggedDelivery
    state_class: str
    tries: list[TryRow] = field(default_factory=list)
    can_resend: bool = False


def try_row(attempt: DeliveryTry) -> TryRow:
    found = _HTTP_STATUS.fullmatch((attempt.detail or "").strip())
    return TryRow(
        attempt.number,
        attempt.at,
        found.group(1) if found else None,
        "" if found else (attempt.detail or ""),
        OUTCOMES.get(attempt.outcome, attempt.outcome.value),
    )


def delivery_rows(endpoint: Endpoint, logged: list[LoggedDelivery]) -> list[DeliveryRow]:
    return [
        DeliveryRow(
            each,
            DELIVERY_CLASSES.get(each.delivery.status, "bad"),
            [try_row(attempt) for attempt in each.tries],
            can_resend=endpoint.enabled and each.delivery.status.is_final,
        )
        for each in logged
    ]


def non_public_host(url: str) -> str | None:
    """Why the URL's host is not a public address, when it says so itself (an IP literal, or
    a loopback name); None otherwise. A name is judged where it resolves, when an event is
    sent (worker.pinned_http): this only spares a person an endpoint that can never work."""
    host = (urlsplit(url).hostname or "").rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return f"{host} is a loopback name"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return f"{host} is a loopback address"
    if address.is_link_local:
        return f"{host} is a link-local address"
    if address.is_private:
        return f"{host} is a private address"
    if not address.is_global or address.is_multicast:
        return f"{host} is not a public address"
    return None


def _notice(request: Request) -> str | None:
    done = request.query_params.get("done", "")
    return WEBHOOK_NOTICES.get(done) or NOTICES.get(done)


def _endpoint(app: Backbeat, viewer: Viewer, endpoint_id: str) -> Endpoint:
    """The endpoint, when it is one of the account acted for (secrets left out)."""
    for endpoint in app.webhooks.endpoints(viewer.caller, account_id=viewer.account_id):
        if endpoint.id == endpoint_id:
            return endpoint
    raise PageNotFound(ENDPOINT_NOT_FOUND)


def _list_page(
    request: Request, viewer: Viewer, form: EndpointForm | None = None, status: int = 200
) -> Response:
    app = backbeat(request)
    found = app.webhooks.endpoints(viewer.caller, account_id=viewer.account_id)
    return page(
        request,
        "webhooks.html",
        status,
        notice=_notice(request),
        endpoints=found,
        form=form or EndpointForm(),
        event_choices=EVENT_CHOICES,
        allow_private=app.settings.webhook_allow_private,
    )


@router.get(WEBHOOKS)
def webhooks_page(request: Request, viewer: ViewerDep) -> Response:
    return _list_page(request, viewer)


@router.post(WEBHOOKS)
def add_webhook(request: Request, form: FormDep, viewer: ViewerDep) -> Response:
    app = backbeat(request)
    sent = EndpointForm.of(form)
    events = [choice.value for choice in EVENT_CHOICES if choice.value in sent.events]
    try:
        valid = validate(CreateWebhookRequest, {"url": sent.url, "events": events})
        refused = None if app.settings.webhook_allow_private else non_public_host(valid.url)
        if refused is not None:
            raise InvalidInput(
                f"url must be a public address: {refused}, and this server does not send "
                "webhooks to private addresses",
                ["url"],
            )
        endpoint, secret = app.webhooks.add(
            viewer.caller, valid.url, valid.events, account_id=viewer.account_id
        )
    except InvalidInput as exc:
        return _list_page(request, viewer, sent.failed(exc), 400)
    return page(request, "webhook_secret.html", endpoint=endpoint, secret=secret, rotated=False)


def _endpoint_page(
    request: Request,
    viewer: Viewer,
    endpoint: Endpoint,
    *,
    rotate: RotateForm | None = None,
    action_error: str | None = None,
    status: int = 200,
) -> Response:
    app = backbeat(request)
    before = request.query_params.get("before") or None
    log_error = None
    try:
        if before is not None:
            delivery_id_param("before", before)
        logged = app.webhooks.deliveries(
            viewer.caller, endpoint.id, limit=LOG_PAGE + 1, before=before
        )
    except InvalidInput as exc:
        log_error, before = exc.message, None
        logged = app.webhooks.deliveries(viewer.caller, endpoint.id, limit=LOG_PAGE + 1)
    shown = logged[:LOG_PAGE]
    return page(
        request,
        "webhook.html",
        status,
        notice=_notice(request),
        endpoint=endpoint,
        event_labels={choice.value: choice.label for choice in EVENT_CHOICES},
        deliveries=delivery_rows(endpoint, shown),
        before=before,
        older=shown[-1].delivery.id if len(logged) > LOG_PAGE else None,
        log_error=log_error,
        rotate=rotate or RotateForm(),
        max_overlap=MAX_OVERLAP_HOURS,
        action_error=action_error,
    )


@router.get(WEBHOOKS + "/{endpoint_id}")
def webhook_page(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
    endpoint = _endpoint(backbeat(request), viewer, endpoint_id)
    return _endpoint_page(request, viewer, endpoint)


def _overlap_hours(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    try:
        hours = float(text)
    except ValueError:
        hours = math.nan
    if not math.isfinite(hours):
        message = f"overlap_hours must be a number of hours between 0 and {MAX_OVERLAP_HOURS}"
        raise InvalidInput(message, ["overlap_hours"])
    return hours


@router.post(WEBHOOKS + "/{endpoint_id}/rotate")
def rotate_webhook(
    request: Request, endpoint_id: str, form: FormDep, viewer: ViewerDep
) -> Response:
    app = backbeat(request)
    endpoint = _endpoint(app, viewer, endpoint_id)
    typed = form.get("overlap_hours", "")
    try:
        hours = _overlap_hours(typed)
        body: dict[str, Any] = {} if hours is None else {"overlap_hours": hours}
        overlap = validate(RotateWebhookRequest, body).overlap()
    except InvalidInput as exc:
        failed = RotateForm(typed, exc.message)
        return _endpoint_page(request, viewer, endpoint, rotate=failed, status=400)
    try:
        rotated, secret = app.webhooks.rotate(viewer.caller, endpoint.id, overlap)
    except NotFound:
        raise PageNotFound(ENDPOINT_NOT_FOUND) from None
    return page(request, "webhook_secret.html", endpoint=rotated, secret=secret, rotated=True)


@router.post(WEBHOOKS + "/{endpoint_id}/enable")
def enable_webhook(
    request: Request, endpoint_id: str, form: FormDep, viewer: ViewerDep
) -> Response:
    app = backbeat(request)
    endpoint = _endpoint(app, viewer, endpoint_id)
    try:
        app.webhooks.enable(viewer.caller, endpoint.id)
    except NotFound:
        raise PageNotFound(ENDPOINT_NOT_FOUND) from None
    return redirect(f"{WEBHOOKS}/{endpoint.id}?done=webhook-enabled")


@router.get(WEBHOOKS + "/{endpoint_id}/remove")
def remove_webhook_page(request: Request, endpoint_id: str, viewer: ViewerDep) -> Response:
    endpoint = _endpoint(backbeat(request), viewer, endpoint_id)
    return page(request, "webhook_remove.html", endpoint=endpoint)


@router.post(WEBHOOKS + "/{endpoint_id}/remove")
def remove_webhook(
    request: Request, endpoint_id: str, form: FormDep, viewer: ViewerDep
) -> Response:
    app = backbeat(request)
    endpoint = _endpoint(app, viewer, endpoint_id)
    try:
        app.webhooks.remove(viewer.caller, endpoint.id)
    except NotFound:
        raise PageNotFound(ENDPOINT_NOT_FOUND) from None
    return redirect(f"{WEBHOOKS}?done=webhook-removed")


@router.post(WEBHOOKS + "/{endpoint_id}/deliveries/{delivery_id}/resend")
def resend_delivery(
    request: Request, endpoint_id: str, delivery_id: str, form: FormDep, viewer: ViewerDep
) -> Response:
    app = backbeat(request)
    endpoint = _endpoint(app, viewer, endpoint_id)
    try:
        app.webhooks.resend(viewer.caller, checked_delivery_id(delivery_id))
    except NotFound:
        raise PageNotFound(DELIVERY_NOT_FOUND) from None
    except Conflict as exc:
        return _endpoint_page(request, viewer, endpoint, action_error=exc.message, status=409)
    return redirect(f"{WEBHOOKS}/{endpoint.id}?done=webhook-resent")
