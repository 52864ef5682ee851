"""/api/webhooks (a Backbeat extension): an account's webhook endpoints, their signing
secrets and their delivery log. Access is the tasks': the caller manages the endpoints of
the accounts it may act for; another account's endpoint or delivery is not found (404)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.requests import Request
from starlette.responses import Response

from backbeat.api import webhook_docs as docs
from backbeat.api.auth import CallerDep, current_caller
from backbeat.api.body import BodyDep, OptionalBodyDep
from backbeat.edge.context import backbeat
from backbeat.edge.params import limit_param, uuid_param
from backbeat.edge.responses import JSON
from backbeat.edge.validation import parse_query, validate
from backbeat.edge.webhooks import (
    CreateWebhookRequest,
    EnableWebhookRequest,
    RotateWebhookRequest,
    checked_delivery_id,
    checked_endpoint_id,
    delivery_id_param,
    delivery_json,
    endpoint_json,
    issued_json,
    logged_json,
    rotated_json,
)
from backbeat.services.webhooks import DELIVERY_LOG_LIMIT

router = APIRouter(dependencies=[Depends(current_caller)], tags=["webhooks"])

LIST_QUERY = {"account_id": uuid_param}
DELIVERIES_QUERY = {"limit": limit_param, "before": delivery_id_param}

EndpointId = Annotated[str, Path(description="The endpoint's id (`whep_…`).")]
DeliveryId = Annotated[str, Path(description="The delivery's id (`delivery_…`).")]


def _success(body: dict[str, object], status_code: int = 200) -> Response:
    return JSON({"status": "success", **body}, status_code=status_code)


@router.post("/api/webhooks", status_code=201, **docs.CREATE_WEBHOOK)
def create_webhook(request: Request, caller: CallerDep, body: BodyDep) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(CreateWebhookRequest, body)
    endpoint, secret = backbeat(request).webhooks.add(
        caller, valid.url, valid.events, account_id=valid.account()
    )
    return _success(issued_json(endpoint, secret), status_code=201)


@router.get("/api/webhooks", **docs.LIST_WEBHOOKS)
def list_webhooks(request: Request, caller: CallerDep) -> Response:
    query = parse_query(request.query_params.multi_items(), LIST_QUERY)
    found = backbeat(request).webhooks.endpoints(caller, account_id=query.get("account_id"))
    return _success({"endpoints": [endpoint_json(endpoint) for endpoint in found]})


@router.delete("/api/webhooks/{endpoint_id}", **docs.DELETE_WEBHOOK)
def delete_webhook(request: Request, caller: CallerDep, endpoint_id: EndpointId) -> Response:
    parse_query(request.query_params.multi_items(), {})
    backbeat(request).webhooks.remove(caller, checked_endpoint_id(endpoint_id))
    return _success({})


@router.post("/api/webhooks/{endpoint_id}/rotate", **docs.ROTATE_WEBHOOK)
def rotate_webhook(
    request: Request, caller: CallerDep, endpoint_id: EndpointId, body: OptionalBodyDep
) -> Response:
    parse_query(request.query_params.multi_items(), {})
    valid = validate(RotateWebhookRequest, body)
    rotated, secret = backbeat(request).webhooks.rotate(
        caller, checked_endpoint_id(endpoint_id), valid.overlap()
    )
    return _success(rotated_json(rotated, secret))


@router.post("/api/webhooks/{endpoint_id}/enable", **docs.ENABLE_WEBHOOK)
def enable_webhook(
    request: Request, caller: CallerDep, endpoint_id: EndpointId, body: OptionalBodyDep
) -> Response:
    parse_query(request.query_params.multi_items(), {})
    validate(EnableWebhookRequest, body)
    enabled = backbeat(request).webhooks.enable(caller, checked_endpoint_id(endpoint_id))
    return _success(endpoint_json(enabled))


@router.get("/api/webhooks/{endpoint_id}/deliveries", **docs.LIST_DELIVERIES)
def list_deliveries(request: Request, caller: CallerDep, endpoint_id: EndpointId) -> Response:
    query = parse_query(request.query_params.multi_items(), DELIVERIES_QUERY)
    limit = query.get("limit", DELIVERY_LOG_LIMIT)
    logged = backbeat(request).webhooks.deliveries(
        caller, checked_endpoint_id(endpoint_id), limit=limit, before=query.get("before")
    )
    full = len(logged) == limit  # there may be older ones
    return _success(
        {
            "deliveries": [logged_json(each) for each in logged],
            "next_before": logged[-1].delivery.id if logged and full else None,
        }
    )


@router.post("/api/webhooks/deliveries/{delivery_id}/resend", **docs.RESEND_DELIVERY)
def resend_delivery(request: Request, caller: CallerDep, delivery_id: DeliveryId) -> Response:
    parse_query(request.query_params.multi_items(), {})
    again = backbeat(request).webhooks.resend(caller, checked_delivery_id(delivery_id))
    return _success({"delivery": delivery_json(again)})
