"""Accounts, organizations, artists, plans, API keys and dashboard sessions, in memory
(the contracts of domain.ports, as backbeat/store/accounts.py keeps them on SQL)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from backbeat.domain.models import Account, ApiKey, Artist, Organization
from backbeat.domain.plans import Entitlements
from backbeat.testing.memory_tables import (
    SessionRow,
    Tables,
    Transaction,
    fresh,
    instant,
    require,
    stored,
)


def _member_of(tables: Tables, account_id: UUID) -> set[UUID]:
    return {org for org, member in tables.members if member == account_id}


class MemoryAccountRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, account: Account) -> None:
        row = stored(account)
        tables = self._tx.write()
        require(row.id not in tables.accounts, f"account {row.id} exists")
        if row.email is not None:
            taken = any(each.email == row.email for each in tables.accounts.values())
            require(not taken, f"an account has the email {row.email}")
        tables.accounts[row.id] = row

    def get(self, account_id: UUID) -> Account | None:
        return self._tx.read().accounts.get(account_id)

    def get_by_email(self, email: str) -> Account | None:
        found = (each for each in self._tx.read().accounts.values() if each.email == email)
        return next(found, None)

    def emails(self, account_ids: Iterable[UUID]) -> dict[UUID, str | None]:
        accounts = self._tx.read().accounts
        return {each: accounts[each].email for each in set(account_ids) if each in accounts}

    def add_organization(self, organization: Organization) -> None:
        row = stored(organization)
        tables = self._tx.write()
        require(row.id not in tables.organizations, f"organization {row.id} exists")
        tables.organizations[row.id] = row

    def get_organization(self, organization_id: UUID) -> Organization | None:
        return self._tx.read().organizations.get(organization_id)

    def add_member(self, organization_id: UUID, account_id: UUID, at: datetime) -> bool:
        when = instant(at)
        tables = self._tx.write()
        if (organization_id, account_id) in tables.members:
            return False
        require(organization_id in tables.organizations, f"no organization {organization_id}")
        require(account_id in tables.accounts, f"no account {account_id}")
        tables.members[(organization_id, account_id)] = when
        return True

    def organizations_of(self, account_id: UUID) -> list[Organization]:
        tables = self._tx.read()
        found = [tables.organizations[each] for each in _member_of(tables, account_id)]
        return sorted(found, key=lambda each: (each.created_at, each.id))

    def share_an_organization(self, first: UUID, second: UUID) -> bool:
        return bool(self.shared_organizations(first, second))

    def shared_organizations(self, first: UUID, second: UUID) -> list[UUID]:
        tables = self._tx.read()
        return sorted(_member_of(tables, first) & _member_of(tables, second))

    def add_artist(self, artist: Artist) -> None:
        row = stored(artist, "profile")
        tables = self._tx.write()
        require(row.id not in tables.artists, f"artist {row.id} exists")
        require(
            row.account_id is not None or row.organization_id is not None,
            "an artist needs an account or an organization",
        )
        require(row.account_id is None or row.account_id in tables.accounts, "no such account")
        require(
            row.organization_id is None or row.organization_id in tables.organizations,
            "no such organization",
        )
        tables.artists[row.id] = row

    def get_artist(self, artist_id: UUID) -> Artist | None:
        row = self._tx.read().artists.get(artist_id)
        return None if row is None else fresh(row, "profile")

    def artist_names(self, artist_ids: Iterable[UUID]) -> dict[UUID, str]:
        artists = self._tx.read().artists
        return {each: artists[each].name for each in set(artist_ids) if each in artists}

    def team_emails(
        self, account_id: UUID, organizations: Sequence[UUID] | None = None
    ) -> set[str]:
        tables = self._tx.read()
        reach = _member_of(tables, account_id)
        if organizations is not None:
            reach &= set(organizations)
        members = {account_id} | {member for org, member in tables.members if org in reach}
        emails = (tables.accounts[each].email for each in members if each in tables.accounts)
        return {email.lower() for email in emails if email}

    def artist_usable_by(
        self, artist_id: UUID, account_id: UUID, *, organizations: Sequence[UUID] | None = None
    ) -> bool:
        tables = self._tx.read()
        artist = tables.artists.get(artist_id)
        if artist is None:
            return False
        if artist.account_id == account_id:
            return True
        reach = _member_of(tables, account_id)
        if organizations is not None:
            reach &= set(organizations)
        return artist.organization_id in reach

    def usable_artists(
        self, account_id: UUID, *, organizations: Sequence[UUID] | None = None
    ) -> dict[UUID, str]:
        tables = self._tx.read()
        reach = _member_of(tables, account_id)
        if organizations is not None:
            reach &= set(organizations)
        return {
            artist.id: artist.name
            for artist in tables.artists.values()
            if artist.account_id == account_id or artist.organization_id in reach
        }

    def plan(self, account_id: UUID, *, for_update: bool = False) -> Entitlements | None:
        # `for_update` needs nothing more here: writers take turns (see memory_store).
        return self._tx.read().plans.get(account_id)

    def plans(self, account_ids: Iterable[UUID]) -> dict[UUID, Entitlements]:
        plans = self._tx.read().plans
        return {each: plans[each] for each in set(account_ids) if each in plans}

    def set_plan(self, account_id: UUID, plan: Entitlements | None, at: datetime) -> None:
        instant(at)
        tables = self._tx.write()
        if plan is None:
            tables.plans.pop(account_id, None)
            return
        require(account_id in tables.accounts, f"no account {account_id}")
        tables.plans[account_id] = plan

    def monthly_budget(self, account_id: UUID) -> float | None:
        return self._tx.read().budgets.get(account_id)

    def set_monthly_budget(self, account_id: UUID, usd: float | None, at: datetime) -> None:
        instant(at)
        tables = self._tx.write()
        if usd is None:
            tables.budgets.pop(account_id, None)
            return
        require(account_id in tables.accounts, f"no account {account_id}")
        tables.budgets[account_id] = usd


class MemoryKeyRepository:
    def __init__(self, tx: Transaction) -> None:
        self._tx = tx

    def add(self, key: ApiKey, key_hash: str) -> None:
        row = stored(key)
        tables = self._tx.write()
        require(row.id not in tables.keys, f"API key {row.id} exists")
        require(all(hash_ != key_hash for _, hash_ in tables.keys.values()), "key hash taken")
        require(row.account_id in tables.accounts, f"no account {row.account_id}")
        tables.keys[row.id] = (row, key_hash)

    def find(self, key_hash: str) -> tuple[ApiKey, str] | None:
        found = (each for each in self._tx.read().keys.values() if each[1] == key_hash)
        return next(found, None)

    def get(self, key_id: UUID) -> ApiKey | None:
        row = self._tx.read().keys.get(key_id)
        return None if row is None else row[0]

    def revoke(self, key_id: UUID, at: datetime) -> bool:
        when = instant(at)
        tables = self._tx.write()
        row = tables.keys.get(key_id)
        if row is None or row[0].revoked_at is not None:
            return False
        tables.keys[key_id] = (replace(row[0], revoked_at=when), row[1])
        return True

    def list_for_account(self, account_id: UUID) -> list[ApiKey]:
        keys = [key for key, _ in self._tx.read().keys.values() if key.account_id == account_id]
        return sorted(keys, key=lambda key: (key.created_at, key.id), reverse=True)

    def add_session(
        self, session_id: UUID, key_id: UUID, at: datetime, expires_at: datetime
    ) -> None:
        row = SessionRow(key_id, instant(at), instant(expires_at))
        tables = self._tx.write()
        require(key_id in tables.keys, f"no API key {key_id}")
        expired = [sid for sid, old in tables.sessions.items() if old.expires_at <= row.created_at]
        require(
            session_id not in tables.sessions or session_id in expired,
            f"session {session_id} exists",
        )
        for each in expired:  # as the SQL store does: no sweeper is needed
            del tables.sessions[each]
        tables.sessions[session_id] = row

    def session_active(self, session_id: UUID, key_id: UUID, now: datetime) -> bool:
        when = instant(now)
        row = self._tx.read().sessions.get(session_id)
        return (
            row is not None
            and row.api_key_id == key_id
            and row.ended_at is None
            and row.expires_at > when
        )

    def end_session(self, session_id: UUID, at: datetime) -> bool:
        when = instant(at)
        tables = self._tx.write()
        row = tables.sessions.get(session_id)
        if row is None or row.ended_at is not None:
            return False
        tables.sessions[session_id] = replace(row, ended_at=when)
        return True

    def any_issued(self) -> bool:
        return bool(self._tx.read().keys)
