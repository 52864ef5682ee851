"""Tenancy: which account a caller acts for, and which artists that account may use."""

from __future__ import annotations

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


def check_artist(uow: UnitOfWork, account_id: UUID, artist_id: UUID) -> None:
    """The account may use the artist: its own, or one of its organizations'."""
    if not uow.accounts.artist_usable_by(artist_id, account_id):
        raise AccessDenied("Access denied to specified artist_account_id")
