"""Operator actions behind the CLI: accounts, organizations, artists and keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from backbeat.domain.clock import Clock
from backbeat.domain.errors import Conflict, InvalidInput, NotFound
from backbeat.domain.models import Account, ApiKey, Artist, Organization
from backbeat.domain.plans import Entitlements, Plan, entitlements
from backbeat.domain.ports import UnitOfWork
from backbeat.services.keys import generate_key, hash_key, key_hint

UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: ApiKey
    secret_value: str  # shown once, never stored


class AdminService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, secret: Callable[[], bytes]) -> None:
        self._uow = uow
        self._clock = clock
        self._secret = secret  # read on first use: a scheduler or worker never needs it

    def create_account(self, email: str | None, name: str | None = None) -> Account:
        with self._uow(write=True) as uow:
            if email is not None and uow.accounts.get_by_email(email) is not None:
                raise Conflict(f"an account with email {email} already exists")
            account = Account(id=uuid4(), email=email, name=name, created_at=self._clock.now())
            uow.accounts.add(account)
            uow.commit()
            return account

    def create_organization(self, name: str, *, is_admin: bool = False) -> Organization:
        organization = Organization(
            id=uuid4(), name=name, is_admin=is_admin, created_at=self._clock.now()
        )
        with self._uow(write=True) as uow:
            uow.accounts.add_organization(organization)
            uow.commit()
        return organization

    def add_member(self, organization_id: UUID, account_id: UUID) -> bool:
        with self._uow(write=True) as uow:
            if uow.accounts.get_organization(organization_id) is None:
                raise NotFound(f"no organization {organization_id}")
            if uow.accounts.get(account_id) is None:
                raise NotFound(f"no account {account_id}")
            added = uow.accounts.add_member(organization_id, account_id, self._clock.now())
            uow.commit()
            return added

    def create_artist(
        self,
        name: str,
        *,
        account_id: UUID | None = None,
        organization_id: UUID | None = None,
        profile: dict[str, Any] | None = None,
    ) -> Artist:
        if (account_id is None) == (organization_id is None):
            raise InvalidInput("an artist belongs to exactly one account or one organization")
        with self._uow(write=True) as uow:
            if account_id is not None and uow.accounts.get(account_id) is None:
                raise NotFound(f"no account {account_id}")
            if (
                organization_id is not None
                and uow.accounts.get_organization(organization_id) is None
            ):
                raise NotFound(f"no organization {organization_id}")
            artist = Artist(
                id=uuid4(),
                name=name,
                account_id=account_id,
                organization_id=organization_id,
                profile=profile or {},
                created_at=self._clock.now(),
            )
            uow.accounts.add_artist(artist)
            uow.commit()
            return artist

    def create_key(
        self, account_id: UUID, *, name: str | None = None, expires_at: datetime | None = None
    ) -> IssuedKey:
        value = generate_key()
        key = ApiKey(
            id=uuid4(),
            account_id=account_id,
            name=name,
            hint=key_hint(value),
            created_at=self._clock.now(),
            expires_at=expires_at,
            revoked_at=None,
        )
        with self._uow(write=True) as uow:
            if uow.accounts.get(account_id) is None:
                raise NotFound(f"no account {account_id}")
            uow.keys.add(key, hash_key(self._secret(), value))
            uow.commit()
        return IssuedKey(key=key, secret_value=value)

    def revoke_key(self, key_id: UUID) -> None:
        with self._uow(write=True) as uow:
            if uow.keys.get(key_id) is None:
                raise NotFound(f"no API key {key_id}")
            if not uow.keys.revoke(key_id, self._clock.now()):
                raise Conflict(f"API key {key_id} is already revoked")
            uow.commit()

    def list_keys(self, account_id: UUID) -> list[ApiKey]:
        with self._uow() as uow:
            return uow.keys.list_for_account(account_id)

    def any_keys(self) -> bool:
        """Whether any API key was ever issued (`serve` says how to issue the first)."""
        with self._uow() as uow:
            return uow.keys.any_issued()

    def require_account(self, account_id: UUID) -> None:
        """NotFound unless the account exists (the CLI acting for it checks first)."""
        with self._uow() as uow:
            if uow.accounts.get(account_id) is None:
                raise NotFound(f"no account {account_id}")

    def set_plan(
        self,
        account_id: UUID,
        plan: Plan | None,
        *,
        task_limit: int | None = None,
        min_cadence_minutes: int | None = None,
    ) -> Entitlements | None:
        """Give the account one of Recoup's plans, with either limit replaced when given, or
        take its plan away (None: no limit, the default). Answers what is in force now."""
        if plan is None and (task_limit is not None or min_cadence_minutes is not None):
            raise InvalidInput("none takes no limits: it removes the plan")
        if task_limit is not None and task_limit < 0:
            raise InvalidInput("the task limit must be 0 or more")
        if min_cadence_minutes is not None and min_cadence_minutes < 1:
            raise InvalidInput("the minimum cadence must be at least 1 minute")
        found = (
            None
            if plan is None
            else entitlements(plan, task_limit=task_limit, min_cadence_minutes=min_cadence_minutes)
        )
        with self._uow(write=True) as uow:
            if uow.accounts.get(account_id) is None:
                raise NotFound(f"no account {account_id}")
            uow.accounts.set_plan(account_id, found, self._clock.now())
            uow.commit()
        return found
