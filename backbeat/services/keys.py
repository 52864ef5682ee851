"""API keys: generated once, stored only as an HMAC keyed with the server secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from backbeat.domain.clock import Clock
from backbeat.domain.errors import NotAuthenticated
from backbeat.domain.ports import UnitOfWork

KEY_PREFIX = "bbk_"
_KEY_BODY_LENGTH = 43  # base64url of 32 random bytes, unpadded
_HINT_LENGTH = 10


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the account a key belongs to."""

    account_id: UUID
    key_id: UUID


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_hint(key: str) -> str:
    return key[:_HINT_LENGTH]


def hash_key(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def authenticate(uow: UnitOfWork, secret: bytes, presented: str, now: datetime) -> Caller:
    """The caller for a presented key, or NotAuthenticated("Unauthorized")."""
    unauthorized = NotAuthenticated("Unauthorized")
    if not presented.startswith(KEY_PREFIX) or len(presented) != len(KEY_PREFIX) + 43:
        raise unauthorized
    digest = hash_key(secret, presented)
    found = uow.keys.find(digest)
    if found is None:
        raise unauthorized
    key, stored = found
    if not hmac.compare_digest(stored, digest) or not key.usable_at(now):
        raise unauthorized
    return Caller(account_id=key.account_id, key_id=key.id)


UnitOfWorkFactory = Callable[..., UnitOfWork]


class KeyService:
    """What the doors ask about presented keys: whose they are, and the dashboard's sessions
    over them (recorded on the server, so that signing out ends every copy of a cookie)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, secret: Callable[[], bytes]) -> None:
        self._uow = uow
        self._clock = clock
        self._secret = secret  # read at each check: the settings may be replaced after wiring

    def check(self, presented: str, *, at: datetime | None = None) -> Caller:
        """The key's caller, or NotAuthenticated("Unauthorized") (unknown, revoked, expired).
        `at` is when it is presented (default: now)."""
        with self._uow() as uow:
            now = self._clock.now() if at is None else at
            return authenticate(uow, self._secret(), presented, now)

    def start_session(
        self, session_id: UUID, key_id: UUID, at: datetime, expires_at: datetime
    ) -> None:
        with self._uow(write=True) as uow:
            uow.keys.add_session(session_id, key_id, at, expires_at)
            uow.commit()

    def end_session(self, session_id: UUID) -> None:
        """A signed-out session stops working, however many copies of its cookie exist."""
        with self._uow(write=True) as uow:
            uow.keys.end_session(session_id, self._clock.now())
            uow.commit()
