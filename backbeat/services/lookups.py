"""Reads the dashboard needs beyond the task and run services: who a signed-in session is,
artist names, the accounts one may switch to.

Reads only, each a primary-key or indexed lookup. Tenancy decisions go through
`resolve_account`, as the API's do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from backbeat.domain.clock import Clock
from backbeat.domain.errors import AccessDenied
from backbeat.domain.ports import UnitOfWork
from backbeat.services.access import resolve_account, resolve_acting
from backbeat.services.keys import Caller

UnitOfWorkFactory = Callable[..., UnitOfWork]


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person: the key's caller, and the account the dashboard acts for."""

    caller: Caller
    acting_id: UUID
    email: str | None
    acting_email: str | None
    can_switch: bool  # the key's account is in an organization
    is_admin: bool  # one of those organizations is an admin one: any account may be acted for

    @property
    def account_id(self) -> UUID | None:
        """The `account_id` override to pass the services (None: the key's own account)."""
        return None if self.acting_id == self.caller.account_id else self.acting_id

    @property
    def acting_for_another(self) -> bool:
        return self.acting_id != self.caller.account_id


@dataclass(frozen=True, slots=True)
class Choice:
    account_id: UUID
    email: str


@dataclass(frozen=True, slots=True)
class ArtistChoice:
    artist_id: UUID
    name: str


class LookupService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def viewer(
        self,
        *,
        key_id: UUID | None,
        account_id: UUID | None,
        session_id: UUID | None,
        acting_id: UUID | None,
    ) -> Viewer | None:
        """The viewer behind a signed-in session (its key, the key's account, the server's
        record of the session, the account acted for), or None if the key is no longer
        usable or the session ended (signed out) or expired.

        An account acted for that the caller may no longer act for falls back to its own.
        """
        now = self._clock.now()
        with self._uow() as uow:
            if key_id is None or account_id is None:
                return None
            key = uow.keys.get(key_id)
            if key is None or key.account_id != account_id or not key.usable_at(now):
                return None
            if session_id is None or not uow.keys.session_active(session_id, key.id, now):
                return None
            caller = Caller(account_id=key.account_id, key_id=key.id)
            acting = caller.account_id
            if acting_id is not None:
                try:
                    acting = resolve_account(uow, caller, acting_id)
                except AccessDenied:
                    acting = caller.account_id
            emails = uow.accounts.emails({caller.account_id, acting})
            organizations = uow.accounts.organizations_of(caller.account_id)
        return Viewer(
            caller=caller,
            acting_id=acting,
            email=emails.get(caller.account_id),
            acting_email=emails.get(acting),
            can_switch=bool(organizations),
            is_admin=any(organization.is_admin for organization in organizations),
        )

    def artist_names(self, artist_ids: Iterable[UUID]) -> dict[UUID, str]:
        """Names of the artists, in one query however many there are."""
        with self._uow() as uow:
            return uow.accounts.artist_names(artist_ids)

    def teammates(self, caller: Caller) -> list[Choice]:
        """Accounts sharing an organization with the caller, by email (the caller's own
        first)."""
        choices: list[Choice] = []
        with self._uow() as uow:
            for email in sorted(uow.accounts.team_emails(caller.account_id)):
                account = uow.accounts.get_by_email(email)
                if account is None or account.email is None:
                    continue
                choices.append(Choice(account.id, account.email))
        choices.sort(key=lambda choice: (choice.account_id != caller.account_id, choice.email))
        return choices

    def find_account(self, caller: Caller, text: str) -> UUID:
        """The account named by an id or an email, if the caller may act for it.

        Unknown and forbidden accounts get the same answer as the API gives for account_id.
        """
        denied = AccessDenied("Access denied to specified account_id")
        wanted = text.strip()
        with self._uow() as uow:
            try:
                account_id = UUID(wanted)
            except ValueError:
                account = uow.accounts.get_by_email(wanted)
                if account is None:
                    raise denied from None
                account_id = account.id
            return resolve_account(uow, caller, account_id)

    def artist_choices(self, caller: Caller, account_id: UUID | None = None) -> list[ArtistChoice]:
        """The artists a task of the account acted for (`account_id`, as the task services
        take it) may run against, by name: exactly those TaskService.create and .update
        accept, since the reach is the one they check (`resolve_acting`, then the artists
        `check_artist` allows). An account the caller may not act for is AccessDenied."""
        with self._uow() as uow:
            acting = resolve_acting(uow, caller, account_id)
            names = uow.accounts.usable_artists(acting.account_id, organizations=acting.scope)
        choices = [ArtistChoice(artist_id, name) for artist_id, name in names.items()]
        return sorted(choices, key=lambda choice: (choice.name.casefold(), str(choice.artist_id)))
