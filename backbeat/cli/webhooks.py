"""`backbeat webhooks …`: an account's webhook endpoints from a shell, acting for the account
named with `--account` (see backbeat.cli.acting), through the services /api/webhooks uses:
the same validation and messages; `--json` prints the API's objects.

A signing secret is printed only by `add` and `rotate`, once, on standard output (nothing
else, nor the logs, ever shows it).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from backbeat.cli.acting import ActingAccount, acting_for, checked
from backbeat.cli.common import JsonFlag, emit, fail
from backbeat.cli.printing import clipped, print_json, short_utc, table
from backbeat.domain.errors import InvalidInput
from backbeat.domain.webhooks import Endpoint
from backbeat.edge.webhooks import (
    CreateWebhookRequest,
    RotateWebhookRequest,
    delivery_id_param,
    delivery_json,
    endpoint_json,
    issued_json,
    logged_json,
    rotated_json,
)
from backbeat.services.webhooks import DELIVERY_LOG_LIMIT, LoggedDelivery

URL_WIDTH = 50
ERROR_WIDTH = 60

webhooks_app = typer.Typer(
    help="Webhook endpoints of an account: add, list, remove, rotate their secret, enable, "
    "and their deliveries.",
    no_args_is_help=True,
)

EndpointArgument = Annotated[
    str, typer.Argument(metavar="ENDPOINT_ID", help="An endpoint id (whep_…).")
]
DeliveryArgument = Annotated[
    str, typer.Argument(metavar="DELIVERY_ID", help="A delivery id (delivery_…).")
]


def event_names(events: str | None) -> list[str] | None:
    """`--events run.completed,run.failed`: the names, as the API's `events` list."""
    if events is None:
        return None
    return [name.strip() for name in events.split(",") if name.strip()]


def endpoint_row(endpoint: Endpoint) -> list[str]:
    if endpoint.enabled:
        state = "failing" if endpoint.failing_since is not None else "yes"
    else:
        state = f"no: {endpoint.disabled_reason or 'disabled'}"
    return [
        endpoint.id,
        clipped(endpoint.url, URL_WIDTH),
        ",".join(event.value for event in endpoint.events),
        short_utc(endpoint.created_at),
        state,
    ]


ENDPOINT_HEADERS = ["ID", "URL", "EVENTS", "CREATED (UTC)", "ENABLED"]


def delivery_row(logged: LoggedDelivery) -> list[str]:
    delivery = logged.delivery
    return [
        delivery.id,
        logged.event,
        delivery.run_id,
        delivery.status.value,
        short_utc(delivery.created_at),
        str(len(logged.tries)),
        clipped(delivery.error or "-", ERROR_WIDTH),
    ]


DELIVERY_HEADERS = ["ID", "EVENT", "RUN", "STATUS", "CREATED (UTC)", "TRIES", "ERROR"]


def _shown_once(what: str) -> None:
    typer.echo(
        f"{what} is shown only now: keep it where your receiver verifies signatures", err=True
    )


@webhooks_app.command("add")
def webhooks_add(
    account: ActingAccount,
    url: Annotated[str, typer.Option(help="Where events are POSTed (http or https).")],
    events: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated events to receive (default all): run.completed, "
            "run.failed, run.canceled, task.paused."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the API's endpoint object, with `secret`.")
    ] = False,
) -> None:
    """Register an endpoint; prints its id, then its signing secret (whsec_…, shown once)."""
    body: dict[str, Any] = {"url": url}
    if events is not None:
        body["events"] = event_names(events)
    valid = checked(CreateWebhookRequest, body)
    with acting_for(account) as (backbeat, caller):
        endpoint, secret = backbeat.webhooks.add(caller, valid.url, valid.events)
    if as_json:
        print_json(issued_json(endpoint, secret))
        return
    typer.echo(f"{endpoint.id}\n{secret}")
    _shown_once("the signing secret (second line)")


@webhooks_app.command("list")
def webhooks_list(
    account: ActingAccount,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of the API's endpoint objects.")
    ] = False,
) -> None:
    """List the account's endpoints, oldest first (never their secrets)."""
    with acting_for(account) as (backbeat, caller):
        found = backbeat.webhooks.endpoints(caller)
    if as_json:
        print_json([endpoint_json(endpoint) for endpoint in found])
    elif found:
        table(ENDPOINT_HEADERS, [endpoint_row(endpoint) for endpoint in found])
    else:
        typer.echo("no webhook endpoints", err=True)


@webhooks_app.command("remove")
def webhooks_remove(endpoint_id: EndpointArgument, account: ActingAccount) -> None:
    """Remove an endpoint: it receives nothing from now on."""
    with acting_for(account) as (backbeat, caller):
        backbeat.webhooks.remove(caller, endpoint_id.strip())
    typer.echo(f"removed {endpoint_id.strip()}")


@webhooks_app.command("rotate")
def webhooks_rotate(
    endpoint_id: EndpointArgument,
    account: ActingAccount,
    overlap_hours: Annotated[
        float | None,
        typer.Option(
            help="How long the previous secret keeps signing too (0 to 168 hours; default 24)."
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {id, secret, previous_secret_valid_until}.")
    ] = False,
) -> None:
    """Issue a new signing secret; prints it (shown once)."""
    body = {} if overlap_hours is None else {"overlap_hours": overlap_hours}
    overlap = checked(RotateWebhookRequest, body).overlap()
    with acting_for(account) as (backbeat, caller):
        rotated, secret = backbeat.webhooks.rotate(caller, endpoint_id.strip(), overlap)
    if as_json:
        print_json(rotated_json(rotated, secret))
        return
    typer.echo(secret)
    _shown_once("the new signing secret")
    if rotated.previous_secret_until is not None:
        until = short_utc(rotated.previous_secret_until)
        typer.echo(f"the previous secret signs too until {until} UTC", err=True)


@webhooks_app.command("enable")
def webhooks_enable(
    endpoint_id: EndpointArgument, account: ActingAccount, as_json: JsonFlag = False
) -> None:
    """Turn a disabled endpoint back on (its failing streak starts over)."""
    with acting_for(account) as (backbeat, caller):
        endpoint = backbeat.webhooks.enable(caller, endpoint_id.strip())
    emit(as_json, endpoint_json(endpoint), f"enabled {endpoint.id}")


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: EndpointArgument,
    account: ActingAccount,
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = (
        DELIVERY_LOG_LIMIT
    ),
    before: Annotated[
        str | None, typer.Option(help="Older ones: the id of the last delivery listed.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of the API's delivery objects.")
    ] = False,
) -> None:
    """The endpoint's latest deliveries (events), newest first, with their tries."""
    if before is not None:
        try:
            delivery_id_param("--before", before)
        except InvalidInput as exc:
            raise fail(exc.message, 2) from None
    with acting_for(account) as (backbeat, caller):
        logged = backbeat.webhooks.deliveries(
            caller, endpoint_id.strip(), limit=limit, before=before
        )
    if as_json:
        print_json([logged_json(each) for each in logged])
    elif logged:
        table(DELIVERY_HEADERS, [delivery_row(each) for each in logged])
    else:
        typer.echo("no deliveries", err=True)
    if logged and len(logged) == limit:
        typer.echo(f"more deliveries: --before {logged[-1].delivery.id}", err=True)


@webhooks_app.command("resend")
def webhooks_resend(
    delivery_id: DeliveryArgument, account: ActingAccount, as_json: JsonFlag = False
) -> None:
    """Send a finished delivery again (same webhook-id); one still being sent is refused."""
    with acting_for(account) as (backbeat, caller):
        again = backbeat.webhooks.resend(caller, delivery_id.strip())
    emit(as_json, delivery_json(again), f"queued {again.id} to be sent again")
