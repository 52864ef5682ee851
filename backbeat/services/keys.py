"""API keys: generated once, stored only as an HMAC keyed with the server secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

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
