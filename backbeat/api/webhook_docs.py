"""What /openapi.json says about /api/webhooks, a Backbeat extension (not in the Recoup
contract): its operations, and the bodies they answer. Every operation and every schema here
is marked `x-backbeat-extension`, as api/docs.py marks the contract's additions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, with_config

# Pydantic needs typing_extensions' TypedDict on Python < 3.12 to build a schema from it.
from typing_extensions import TypedDict

from backbeat.api.docs import (
    _BODY_ERRORS,
    _COMMON_ERRORS,
    DateTime,
    _body,
    _described,
    _error,
    _ok,
    _query,
)
from backbeat.domain.deliveries import DeliveryStatus, SendOutcome
from backbeat.edge.extension import EXTENSION
from backbeat.edge.webhooks import EVENT_NAMES, MAX_OVERLAP_HOURS

_MARKED = with_config(ConfigDict(json_schema_extra=EXTENSION))
EventName = Literal["run.completed", "run.failed", "run.canceled", "task.paused"]
assert sorted(get_args(EventName)) == sorted(EVENT_NAMES)


@_MARKED
class WebhookEndpoint(TypedDict):
    """Extension: a webhook endpoint, as listed: never its signing secret."""

    id: Annotated[str, _described("The endpoint's id, prefixed with `whep_`")]
    account_id: Annotated[str, _described("The account whose runs' events it receives")]
    url: str
    events: list[EventName]
    enabled: Annotated[bool, _described("false once disabled (see disabled_reason)")]
    created_at: DateTime
    updated_at: DateTime
    failing_since: Annotated[
        DateTime | None, _described("The first failed try since the last success; null if none")
    ]
    disabled_at: Annotated[
        DateTime | None,
        _described("When it was disabled (every delivery failing for 3 days); null if enabled"),
    ]
    disabled_reason: str | None
    previous_secret_valid_until: Annotated[
        DateTime | None,
        _described("After a rotation: until when the previous secret signs too; else null"),
    ]


@_MARKED
class IssuedWebhookEndpoint(WebhookEndpoint):
    """Extension: the endpoint just created, with its signing secret (shown this once)."""

    status: Literal["success"]
    secret: Annotated[
        str,
        _described(
            "The signing secret, `whsec_` + base64 (Standard Webhooks). Shown only in this "
            "answer: it is stored sealed and never listed."
        ),
    ]


@_MARKED
class WebhookEndpointsResponse(TypedDict):
    """Extension: an account's webhook endpoints, oldest first."""

    status: Literal["success"]
    endpoints: list[WebhookEndpoint]


@_MARKED
class WebhookEndpointResponse(WebhookEndpoint):
    """Extension: one webhook endpoint (without its secret)."""

    status: Literal["success"]


@_MARKED
class RotatedWebhookSecret(TypedDict):
    """Extension: an endpoint's new signing secret (shown this once)."""

    status: Literal["success"]
    id: str
    secret: Annotated[str, _described("The new signing secret, `whsec_` + base64")]
    previous_secret_valid_until: Annotated[
        DateTime | None,
        _described("Until when the previous secret signs too; null with overlap_hours 0"),
    ]


@_MARKED
class WebhookDeliveryTry(TypedDict):
    number: Annotated[int, _described("1 for the first try, 2 for the first retry…")]
    at: DateTime
    outcome: SendOutcome
    detail: Annotated[str | None, _described("What the try found, e.g. `HTTP 503`")]


@_MARKED
class WebhookDelivery(TypedDict, total=False):
    """Extension: one event sent (or to be sent) to an endpoint, with its tries."""

    id: Annotated[str, _described("The delivery's id: the `webhook-id` header of every try")]
    endpoint_id: str
    event: EventName
    run_id: Annotated[str, _described("The run the event is about (`run_…`)")]
    status: DeliveryStatus
    created_at: DateTime
    sent_at: Annotated[DateTime | None, _described("When an endpoint answered 2xx")]
    next_try_at: Annotated[DateTime | None, _described("When it is tried next, if pending")]
    error: Annotated[str | None, _described("Why its last try failed")]
    tries: Annotated[
        list[WebhookDeliveryTry], _described("Every try, oldest first (not in a resend answer)")
    ]


@_MARKED
class WebhookDeliveriesResponse(TypedDict):
    """Extension: an endpoint's latest deliveries, newest first."""

    status: Literal["success"]
    deliveries: list[WebhookDelivery]
    next_before: Annotated[
        str | None, _described("Pass as `before` for the next, older page; null on the last")
    ]


@_MARKED
class ResentWebhookDelivery(TypedDict):
    """Extension: a delivery queued to be sent again."""

    status: Literal["success"]
    delivery: WebhookDelivery


RESPONSE_MODELS: list[Any] = [
    WebhookEndpoint,
    IssuedWebhookEndpoint,
    WebhookEndpointResponse,
    WebhookEndpointsResponse,
    RotatedWebhookSecret,
    WebhookDelivery,
    WebhookDeliveriesResponse,
    ResentWebhookDelivery,
]

_NOT_FOUND: dict[int | str, Any] = {
    404: _error("Webhook endpoint not found (or another account's)")
}
_ACCOUNT = _query(
    "account_id",
    "Extension: the endpoints of this account, when the caller may act for it.",
    {"type": "string", "format": "uuid"},
)


def _extension(
    summary: str, description: str, responses: Mapping[int | str, Any], **extra: Any
) -> dict[str, Any]:
    """An extension operation: marked, with the errors every /api operation may answer."""
    return {
        "summary": f"{summary} (extension)",
        "description": description,
        "responses": {**responses, **_COMMON_ERRORS},
        "openapi_extra": {**extra, **EXTENSION},
    }


CREATE_WEBHOOK: dict[str, Any] = _extension(
    "Register a webhook endpoint",
    "An endpoint of the caller's account (or of `account_id`) receives the events of all its "
    "tasks' runs it subscribes to (`events`, default all): `run.completed`, `run.failed` "
    "(FAILED, CRASHED or SYSTEM_FAILURE), `run.canceled` and `task.paused` (Backbeat paused "
    "a task after its `pause_after_failures` failed runs in a row), POSTed and signed as Standard "
    "Webhooks specifies (`webhook-id`, `webhook-timestamp`, `webhook-signature`). Answers "
    "201 with the endpoint and its signing `secret`, shown only here.",
    {201: _ok("The endpoint, with its secret", "IssuedWebhookEndpoint"), **_BODY_ERRORS},
    **_body("CreateWebhookRequest", "The endpoint to register"),
)

LIST_WEBHOOKS: dict[str, Any] = _extension(
    "List webhook endpoints",
    "The endpoints of the caller's account (or of `account_id`), oldest first, without "
    "their secrets; a disabled one says when and why.",
    {200: _ok("The endpoints", "WebhookEndpointsResponse"), 400: _error("Invalid query")},
    parameters=[_ACCOUNT],
)

DELETE_WEBHOOK: dict[str, Any] = _extension(
    "Remove a webhook endpoint",
    "It receives nothing from now on. Answers only the status, as DELETE /api/tasks does.",
    {200: _ok("Removed", "DeleteTaskResponse"), **_NOT_FOUND},
)

ROTATE_WEBHOOK: dict[str, Any] = _extension(
    "Rotate a webhook endpoint's secret",
    "Issues a new signing secret, shown only in this answer. The previous one keeps signing "
    f"too (every message carries both signatures) for `overlap_hours` (0 to "
    f"{MAX_OVERLAP_HOURS}, default 24), so a receiver can switch without losing events. The "
    "body may be empty.",
    {200: _ok("The new secret", "RotatedWebhookSecret"), **_BODY_ERRORS, **_NOT_FOUND},
    **_body("RotateWebhookRequest", "How long the previous secret keeps signing"),
)
ROTATE_WEBHOOK["openapi_extra"]["requestBody"]["required"] = False

ENABLE_WEBHOOK: dict[str, Any] = _extension(
    "Enable a webhook endpoint",
    "Turns an endpoint back on after it was disabled (every delivery failing for 3 days); "
    "its failing streak starts over. Events raised while it was disabled are not sent. The "
    "body, if any, is an empty object.",
    {200: _ok("The endpoint", "WebhookEndpointResponse"), **_BODY_ERRORS, **_NOT_FOUND},
    **_body("EnableWebhookRequest", "Nothing: an empty object, or no body at all"),
)
ENABLE_WEBHOOK["openapi_extra"]["requestBody"]["required"] = False

LIST_DELIVERIES: dict[str, Any] = _extension(
    "An endpoint's deliveries",
    "The endpoint's latest events, newest first, each with its status and every try "
    "(when, outcome such as `HTTP 503`). Page with `before`.",
    {
        200: _ok("The deliveries", "WebhookDeliveriesResponse"),
        400: _error("Invalid query"),
        **_NOT_FOUND,
    },
    parameters=[
        _query(
            "limit",
            "Extension: page size.",
            {"type": "integer", "minimum": 1, "maximum": 100, "default": 100},
        ),
        _query(
            "before",
            "Extension: only deliveries older than this one (`next_before` of the last page).",
            {"type": "string"},
        ),
    ],
)

RESEND_DELIVERY: dict[str, Any] = _extension(
    "Send a delivery again",
    "Queues a finished delivery (sent or failed) to be sent again at once, with the same "
    "`webhook-id` (a receiver that has it drops the repeat). One still pending or being sent "
    "answers 409.",
    {
        200: _ok("The delivery, queued", "ResentWebhookDelivery"),
        404: _error("Webhook delivery not found (or another account's)"),
        409: _error("The delivery is still being sent"),
    },
)
