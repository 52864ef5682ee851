"""Tenancy: which account a caller acts for, and which artists that account may use."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from backbeat.domain.errors import AccessDenied
from backbeat.domain.ports import UnitOfWork
from backbeat.services.keys import Caller


def resolve_account(uow: UnitOfWork, caller: Caller, requested: UUID | None) -> UUID:
    """The account to act for: the caller's own, or `requested` when the caller may act for it.

    Allowed: yourself; an account sharing an organization with you; any account when you
    belong to an admin organization.
    """
    if requested is None or requested == caller.account_id:
        return caller.account_id
    denied = AccessDenied("Access denied to specified account_id")
    if uow.accounts.get(requested) is None:
        raise denied
    if uow.accounts.share_an_organization(caller.account_id, requested):
        return requested
    if any(org.is_admin for org in uow.accounts.organizations_of(caller.account_id)):
        return requested
    raise denied


@dataclass(frozen=True, slots=True)
class Acting:
    """The account acted for, and how far the caller reaches in it.

    `scope` is None for full reach (the caller's own account, or any account through an
    admin organization); else the organizations the caller shares with the account, and the
    artists and email recipients a task may use are the account's own and theirs.
    """

    account_id: UUID
    scope: tuple[UUID, ...] | None = None


def reach(uow: UnitOfWork, actor: UUID, target: UUID) -> Acting | None:
    """How far `actor` reaches in `target`'s account, or None when it may not act for it:
    the same accounts as `resolve_account` allows."""
    if actor == target:
        return Acting(target)
    if uow.accounts.get(target) is None:
        return None
    if any(org.is_admin for org in uow.accounts.organizations_of(actor)):
        return Acting(target)
    shared = uow.accounts.shared_organizations(actor, target)
    return Acting(target, tuple(shared)) if shared else None


def resolve_acting(uow: UnitOfWork, caller: Caller, requested: UUID | None) -> Acting:
    """`resolve_account`, with the reach: the same accounts are allowed and refused."""
    if requested is None:
        return Acting(caller.account_id)
    acting = reach(uow, caller.account_id, requested)
    if acting is None:
        raise AccessDenied("Access denied to specified account_id")
    return acting


def check_artist(
    uow: UnitOfWork, account_id: UUID, artist_id: UUID, scope: tuple[UUID, ...] | None = None
) -> None:
    """The account may use the artist: its own, or one of its organizations' (one of `scope`,
    when acting through shared organizations)."""
    if not uow.accounts.artist_usable_by(artist_id, account_id, organizations=scope):
        raise AccessDenied("Access denied to specified artist_account_id")
