"""Accounts, organizations, artists and API keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    CompoundSelect,
    Connection,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from backbeat.domain.models import Account, ApiKey, Artist, Organization
from backbeat.domain.plans import Entitlements, Plan
from backbeat.store.tables import (
    account_budgets,
    account_plans,
    accounts,
    api_keys,
    artists,
    dashboard_sessions,
    organization_members,
    organizations,
)


def _account(row: Any) -> Account:
    return Account(id=row.id, email=row.email, name=row.name, created_at=row.created_at)


def _entitlements(row: Any) -> Entitlements:
    return Entitlements(Plan(row.plan), row.task_limit, row.min_cadence_minutes)


def _organization(row: Any) -> Organization:
    return Organization(id=row.id, name=row.name, is_admin=row.is_admin, created_at=row.created_at)


def _team_emails(*, within: bool) -> CompoundSelect[tuple[str]]:
    """The account's own email and its teammates' (members of an organization it belongs
    to; when `within`, of the organizations in the parameter `organizations` only)."""
    account_id = bindparam("b_account_id", type_=accounts.c.id.type)
    mine = organization_members.alias("mine")
    members = organization_members.alias("members")
    teammates = (
        select(accounts.c.email)
        .join(members, members.c.account_id == accounts.c.id)
        .join(mine, mine.c.organization_id == members.c.organization_id)
        .where(mine.c.account_id == account_id)
    )
    if within:
        teammates = teammates.where(
            mine.c.organization_id.in_(bindparam("organizations", expanding=True))
        )
    return select(accounts.c.email).where(accounts.c.id == account_id).union(teammates)


# Built once: the worker reads them for every run.
_OWN_EMAIL = select(accounts.c.email).where(accounts.c.id == bindparam("b_account_id"))
_TEAM_EMAILS = _team_emails(within=False)
_TEAM_EMAILS_WITHIN = _team_emails(within=True)


class SqlAccountRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, account: Account) -> None:
        self._db.execute(
            insert(accounts).values(
                id=account.id,
                email=account.email,
                name=account.name,
                created_at=account.created_at,
            )
        )

    def get(self, account_id: UUID) -> Account | None:
        row = self._db.execute(select(accounts).where(accounts.c.id == account_id)).first()
        return None if row is None else _account(row)

    def get_by_email(self, email: str) -> Account | None:
        row = self._db.execute(select(accounts).where(accounts.c.email == email)).first()
        return None if row is None else _account(row)

    def emails(self, account_ids: Iterable[UUID]) -> dict[UUID, str | None]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        rows = self._db.execute(
            select(accounts.c.id, accounts.c.email).where(accounts.c.id.in_(ids))
        )
        return {row.id: row.email for row in rows}

    def add_organization(self, organization: Organization) -> None:
        self._db.execute(
            insert(organizations).values(
                id=organization.id,
                name=organization.name,
                is_admin=organization.is_admin,
                created_at=organization.created_at,
            )
        )

    def get_organization(self, organization_id: UUID) -> Organization | None:
        row = self._db.execute(
            select(organizations).where(organizations.c.id == organization_id)
        ).first()
        return None if row is None else _organization(row)

    def add_member(self, organization_id: UUID, account_id: UUID, at: datetime) -> bool:
        values = {"organization_id": organization_id, "account_id": account_id, "created_at": at}
        dialect = postgresql if self._db.dialect.name == "postgresql" else sqlite
        statement = (
            dialect.insert(organization_members)
            .values(**values)
            .on_conflict_do_nothing()
            # RETURNING, not rowcount: psycopg reports -1 for an INSERT's rowcount here.
            .returning(organization_members.c.account_id)
        )
        return self._db.execute(statement).first() is not None

    def organizations_of(self, account_id: UUID) -> list[Organization]:
        rows = self._db.execute(
            select(organizations)
            .join(organization_members)
            .where(organization_members.c.account_id == account_id)
            .order_by(organizations.c.created_at)
        )
        return [_organization(row) for row in rows]

    def share_an_organization(self, first: UUID, second: UUID) -> bool:
        mine = organization_members.alias("mine")
        theirs = organization_members.alias("theirs")
        query = select(
            exists().where(
                mine.c.account_id == first,
                theirs.c.account_id == second,
                mine.c.organization_id == theirs.c.organization_id,
            )
        )
        return bool(self._db.execute(query).scalar())

    def shared_organizations(self, first: UUID, second: UUID) -> list[UUID]:
        mine = organization_members.alias("mine")
        theirs = organization_members.alias("theirs")
        query = (
            select(mine.c.organization_id)
            .join(theirs, theirs.c.organization_id == mine.c.organization_id)
            .where(mine.c.account_id == first, theirs.c.account_id == second)
            .order_by(mine.c.organization_id)
        )
        return list(self._db.execute(query).scalars())

    def add_artist(self, artist: Artist) -> None:
        self._db.execute(
            insert(artists).values(
                id=artist.id,
                name=artist.name,
                account_id=artist.account_id,
                organization_id=artist.organization_id,
                profile=artist.profile,
                created_at=artist.created_at,
            )
        )

    def get_artist(self, artist_id: UUID) -> Artist | None:
        row = self._db.execute(select(artists).where(artists.c.id == artist_id)).first()
        if row is None:
            return None
        return Artist(
            id=row.id,
            name=row.name,
            account_id=row.account_id,
            organization_id=row.organization_id,
            profile=row.profile,
            created_at=row.created_at,
        )

    def team_emails(
        self, account_id: UUID, organizations: Sequence[UUID] | None = None
    ) -> set[str]:
        if organizations is not None and not organizations:
            rows = self._db.execute(_OWN_EMAIL, {"b_account_id": account_id})
        elif organizations is None:
            rows = self._db.execute(_TEAM_EMAILS, {"b_account_id": account_id})
        else:
            params = {"b_account_id": account_id, "organizations": list(organizations)}
            rows = self._db.execute(_TEAM_EMAILS_WITHIN, params)
        return {row.email.lower() for row in rows if row.email}

    def artist_names(self, artist_ids: Iterable[UUID]) -> dict[UUID, str]:
        ids = list(set(artist_ids))
        if not ids:
            return {}
        rows = self._db.execute(select(artists.c.id, artists.c.name).where(artists.c.id.in_(ids)))
        return {row.id: row.name for row in rows}

    def artist_usable_by(
        self, artist_id: UUID, account_id: UUID, *, organizations: Sequence[UUID] | None = None
    ) -> bool:
        member_of = select(organization_members.c.organization_id).where(
            organization_members.c.account_id == account_id
        )
        if organizations is not None:
            member_of = member_of.where(
                organization_members.c.organization_id.in_(list(organizations))
            )
        query = select(
            exists().where(
                and_(
                    artists.c.id == artist_id,
                    or_(
                        artists.c.account_id == account_id,
                        artists.c.organization_id.in_(member_of),
                    ),
                )
            )
        )
        return bool(self._db.execute(query).scalar())

    def usable_artists(
        self, account_id: UUID, *, organizations: Sequence[UUID] | None = None
    ) -> dict[UUID, str]:
        member_of = select(organization_members.c.organization_id).where(
            organization_members.c.account_id == account_id
        )
        if organizations is not None:
            member_of = member_of.where(
                organization_members.c.organization_id.in_(list(organizations))
            )
        query = select(artists.c.id, artists.c.name).where(
            or_(artists.c.account_id == account_id, artists.c.organization_id.in_(member_of))
        )
        return {row.id: row.name for row in self._db.execute(query)}

    def plan(self, account_id: UUID, *, for_update: bool = False) -> Entitlements | None:
        query = select(account_plans).where(account_plans.c.account_id == account_id)
        if for_update:
            query = query.with_for_update()  # ignored by SQLite, whose writers are serialized
        row = self._db.execute(query).first()
        return None if row is None else _entitlements(row)

    def plans(self, account_ids: Iterable[UUID]) -> dict[UUID, Entitlements]:
        ids = list(set(account_ids))
        if not ids:
            return {}
        rows = self._db.execute(select(account_plans).where(account_plans.c.account_id.in_(ids)))
        return {row.account_id: _entitlements(row) for row in rows}

    def set_plan(self, account_id: UUID, plan: Entitlements | None, at: datetime) -> None:
        self._db.execute(delete(account_plans).where(account_plans.c.account_id == account_id))
        if plan is not None:
            self._db.execute(
                insert(account_plans).values(
                    account_id=account_id,
                    plan=plan.plan.value,
                    task_limit=plan.task_limit,
                    min_cadence_minutes=plan.min_cadence_minutes,
                    updated_at=at,
                )
            )

    def monthly_budget(self, account_id: UUID) -> float | None:
        query = select(account_budgets.c.monthly_usd).where(
            account_budgets.c.account_id == account_id
        )
        value = self._db.execute(query).scalar_one_or_none()
        return None if value is None else float(value)

    def set_monthly_budget(self, account_id: UUID, usd: float | None, at: datetime) -> None:
        self._db.execute(delete(account_budgets).where(account_budgets.c.account_id == account_id))
        if usd is not None:
            self._db.execute(
                insert(account_budgets).values(
                    account_id=account_id, monthly_usd=usd, updated_at=at
                )
            )


def _key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        account_id=row.account_id,
        name=row.name,
        hint=row.hint,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


class SqlKeyRepository:
    def __init__(self, connection: Connection) -> None:
        self._db = connection

    def add(self, key: ApiKey, key_hash: str) -> None:
        self._db.execute(
            insert(api_keys).values(
                id=key.id,
                account_id=key.account_id,
                key_hash=key_hash,
                hint=key.hint,
                name=key.name,
                created_at=key.created_at,
                expires_at=key.expires_at,
                revoked_at=key.revoked_at,
            )
        )

    def find(self, key_hash: str) -> tuple[ApiKey, str] | None:
        row = self._db.execute(select(api_keys).where(api_keys.c.key_hash == key_hash)).first()
        return None if row is None else (_key(row), row.key_hash)

    def get(self, key_id: UUID) -> ApiKey | None:
        row = self._db.execute(select(api_keys).where(api_keys.c.id == key_id)).first()
        return None if row is None else _key(row)

    def revoke(self, key_id: UUID, at: datetime) -> bool:
        result = self._db.execute(
            update(api_keys)
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )
        return result.rowcount == 1

    def list_for_account(self, account_id: UUID) -> list[ApiKey]:
        rows = self._db.execute(
            select(api_keys)
            .where(api_keys.c.account_id == account_id)
            .order_by(api_keys.c.created_at.desc(), api_keys.c.id.desc())
        )
        return [_key(row) for row in rows]

    def add_session(
        self, session_id: UUID, key_id: UUID, at: datetime, expires_at: datetime
    ) -> None:
        # Expired sessions go here, by the expires_at index: no sweeper is needed.
        self._db.execute(delete(dashboard_sessions).where(dashboard_sessions.c.expires_at <= at))
        self._db.execute(
            insert(dashboard_sessions).values(
                id=session_id, api_key_id=key_id, created_at=at, expires_at=expires_at
            )
        )

    def session_active(self, session_id: UUID, key_id: UUID, now: datetime) -> bool:
        query = select(
            exists().where(
                dashboard_sessions.c.id == session_id,
                dashboard_sessions.c.api_key_id == key_id,
                dashboard_sessions.c.ended_at.is_(None),
                dashboard_sessions.c.expires_at > now,
            )
        )
        return bool(self._db.execute(query).scalar())

    def end_session(self, session_id: UUID, at: datetime) -> bool:
        result = self._db.execute(
            update(dashboard_sessions)
            .where(dashboard_sessions.c.id == session_id, dashboard_sessions.c.ended_at.is_(None))
            .values(ended_at=at)
        )
        return result.rowcount == 1

    def any_issued(self) -> bool:
        return self._db.execute(select(api_keys.c.id).limit(1)).first() is not None
