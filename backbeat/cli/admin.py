"""Accounts, organizations, artists and API keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import typer

from backbeat.cli.common import AccountOption, JsonFlag, OrgOption, emit, fail, parse_uuid, wired
from backbeat.domain.clock import iso_utc
from backbeat.domain.plans import Plan

accounts_app = typer.Typer(help="Accounts (people or teams that own tasks).", no_args_is_help=True)
orgs_app = typer.Typer(
    help="Organizations: accounts that share artists and tasks.", no_args_is_help=True
)
artists_app = typer.Typer(help="Artists that tasks run against.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys (shown once, stored hashed).", no_args_is_help=True)


@accounts_app.command("create")
def accounts_create(
    email: Annotated[str, typer.Option(help="The account's primary email (owner_email).")],
    name: Annotated[str | None, typer.Option()] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an account; prints its id."""
    with wired() as backbeat:
        account = backbeat.admin.create_account(email, name)
        emit(as_json, {"id": str(account.id), "email": account.email}, str(account.id))


class PlanChoice(StrEnum):
    FREE = "free"
    STARTER = "starter"
    PRO = "pro"
    NONE = "none"


@accounts_app.command("set-plan")
def accounts_set_plan(
    account_id: Annotated[
        UUID, typer.Argument(parser=parse_uuid("ACCOUNT_ID"), metavar="ACCOUNT_ID")
    ],
    plan: Annotated[
        PlanChoice,
        typer.Argument(help="One of Recoup's plans, or none: no limits (the default)."),
    ],
    task_limit: Annotated[
        int | None, typer.Option(min=0, help="Enabled tasks at most, instead of the plan's.")
    ] = None,
    min_cadence_minutes: Annotated[
        int | None,
        typer.Option(min=1, help="Shortest gap between a task's fires, instead of the plan's."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Give an account a plan (free: 1 weekly task, starter: 3 daily, pro: unlimited hourly),
    or take it away with none. Over the new limits, its oldest enabled tasks keep running."""
    custom = task_limit is not None or min_cadence_minutes is not None
    if plan is PlanChoice.NONE and custom:
        raise fail("none takes no limits: it removes the plan", 2)
    chosen = None if plan is PlanChoice.NONE else Plan(plan.value)
    with wired() as backbeat:
        found = backbeat.admin.set_plan(
            account_id, chosen, task_limit=task_limit, min_cadence_minutes=min_cadence_minutes
        )
    record: dict[str, Any] = {
        "account_id": str(account_id),
        "plan": None if found is None else found.plan.value,
        "task_limit": None if found is None else found.task_limit,
        "min_cadence_minutes": None if found is None else found.min_cadence_minutes,
    }
    if found is None:
        line = f"{account_id}: no plan, no limits"
    else:
        count = found.task_limit
        tasks = (
            "no limit on enabled tasks"
            if count is None
            else f"at most {count} enabled {'task' if count == 1 else 'tasks'}"
        )
        every = f"each at most every {found.min_cadence_minutes} minutes"
        line = f"{account_id}: plan {found.plan.value}, {tasks}, {every}"
    emit(as_json, record, line)


@accounts_app.command("set-budget")
def accounts_set_budget(
    account_id: Annotated[
        UUID, typer.Argument(parser=parse_uuid("ACCOUNT_ID"), metavar="ACCOUNT_ID")
    ],
    monthly_usd: Annotated[
        float | None,
        typer.Option(help="The most its runs may spend on models per month (UTC), in USD."),
    ] = None,
    none: Annotated[bool, typer.Option("--none", help="Remove the monthly budget.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Cap an account's model spend per calendar month: a run that finds it spent does not
    start (MonthlyBudgetExceeded), and a run that starts may spend only what is left."""
    if none == (monthly_usd is not None):
        raise fail("give either --monthly-usd AMOUNT or --none", 2)
    with wired() as backbeat:
        month = backbeat.usage.set_monthly_budget(account_id, monthly_usd)
    record = {
        "account_id": str(account_id),
        "monthly_budget_usd": month.budget_usd,
        "spent_usd": round(month.spent_cents / 100, 6),
        "month_start": iso_utc(month.month_start),
    }
    spent = f"${month.spent_cents / 100:,.2f} spent since {month.month_start.date()} UTC"
    line = (
        f"{account_id}: no monthly budget ({spent})"
        if month.budget_usd is None
        else f"{account_id}: monthly budget ${month.budget_usd:,.2f} ({spent})"
    )
    emit(as_json, record, line)


@orgs_app.command("create")
def orgs_create(
    name: Annotated[str, typer.Option()],
    admin: Annotated[
        bool, typer.Option("--admin", help="Members may act for any account (operators).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create an organization; prints its id."""
    with wired() as backbeat:
        org = backbeat.admin.create_organization(name, is_admin=admin)
        emit(as_json, {"id": str(org.id), "name": org.name, "admin": org.is_admin}, str(org.id))


@orgs_app.command("add-member")
def orgs_add_member(org: OrgOption, account: AccountOption, as_json: JsonFlag = False) -> None:
    """Add an account to an organization."""
    with wired() as backbeat:
        added = backbeat.admin.add_member(org, account)
        line = "added" if added else "already a member"
        emit(
            as_json, {"organization_id": str(org), "account_id": str(account), "added": added}, line
        )


@artists_app.command("create")
def artists_create(
    name: Annotated[str, typer.Option()],
    account: Annotated[
        UUID | None, typer.Option("--account", parser=parse_uuid("--account"))
    ] = None,
    org: Annotated[UUID | None, typer.Option("--org", parser=parse_uuid("--org"))] = None,
    profile: Annotated[
        str | None, typer.Option(help="JSON object: genres, bio, links… given to the model.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an artist owned by an account or an organization; prints its id."""
    details: dict[str, Any] = {}
    if profile is not None:
        try:
            details = json.loads(profile)
        except json.JSONDecodeError as exc:
            raise fail(f"--profile is not JSON: {exc}") from None
        if not isinstance(details, dict):
            raise fail("--profile must be a JSON object")
    with wired() as backbeat:
        artist = backbeat.admin.create_artist(
            name, account_id=account, organization_id=org, profile=details
        )
        emit(as_json, {"id": str(artist.id), "name": artist.name}, str(artist.id))


@keys_app.command("create")
def keys_create(
    account: AccountOption,
    name: Annotated[str | None, typer.Option(help="A label to tell keys apart.")] = None,
    expires_in_days: Annotated[int | None, typer.Option(min=1)] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create an API key; prints it once (only its HMAC is stored)."""
    with wired() as backbeat:
        expires_at = None
        if expires_in_days is not None:
            expires_at = backbeat.clock.now() + timedelta(days=expires_in_days)
        issued = backbeat.admin.create_key(account, name=name, expires_at=expires_at)
        record = {
            "id": str(issued.key.id),
            "key": issued.secret_value,
            "account_id": str(account),
            "expires_at": None if expires_at is None else iso_utc(expires_at),
        }
        emit(as_json, record, issued.secret_value)
        if not as_json:
            typer.echo(
                f"key id {issued.key.id}: store the key now, it is not shown again", err=True
            )


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[UUID, typer.Argument(parser=parse_uuid("KEY_ID"))]) -> None:
    """Revoke an API key by its id; requests with it answer 401 from now on."""
    with wired() as backbeat:
        backbeat.admin.revoke_key(key_id)
        typer.echo(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(account: AccountOption, as_json: JsonFlag = False) -> None:
    """List an account's keys (ids and hints, never the keys)."""
    with wired() as backbeat:
        now = datetime.now(UTC)
        for key in backbeat.admin.list_keys(account):
            state = "active" if key.usable_at(now) else "revoked" if key.revoked_at else "expired"
            record = {"id": str(key.id), "hint": key.hint, "name": key.name, "state": state}
            emit(as_json, record, f"{key.id}  {key.hint}…  {state}  {key.name or ''}")
