"""Dashboard sessions: a signed cookie that names an API key and never holds it.

The cookie carries a random nonce, when it was issued (the app's clock), and once signed in
a random session id, the key's id, the key's account and the account being acted for. It is
signed (HMAC-SHA256, itsdangerous) with a key derived from the server secret, so there is no
new secret to configure; a changed server secret ends every session. The key itself is never
stored: each request re-reads the key by id, and a revoked or expired key ends the session.

Each sign-in also records the session on the server (`dashboard_sessions`), and each request
checks that record: signing out ends it there, so a copy of the cookie stops working at once.

CSRF: each form carries HMAC(nonce) under a second derived key. The token is bound to the
session (a new nonce at every sign-in and sign-out), is never stored anywhere, and cannot be
computed without the server secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "backbeat_session"
_SESSION_SALT = "backbeat.dashboard.session"
_CSRF_CONTEXT = b"backbeat.dashboard.csrf"
CSRF_FIELD = "csrf_token"


@dataclass(frozen=True, slots=True)
class SessionData:
    nonce: str
    issued_at: int  # seconds since the epoch, by the app's clock
    key_id: UUID | None = None
    account_id: UUID | None = None  # the key's account
    acting_id: UUID | None = None  # another account acted for (the API's account_id override)
    session_id: UUID | None = None  # the server's record of a signed-in session

    @property
    def signed_in(self) -> bool:
        return self.key_id is not None and self.account_id is not None


class Sessions:
    """Encodes, decodes and checks session cookies and CSRF tokens."""

    def __init__(self, secret: bytes, lifetime_seconds: int, secure: bool | None) -> None:
        self._serializer = URLSafeSerializer(
            secret,
            salt=_SESSION_SALT,
            signer_kwargs={"digest_method": hashlib.sha256, "key_derivation": "hmac"},
        )
        self._csrf_key = hmac.new(secret, _CSRF_CONTEXT, hashlib.sha256).digest()
        self.lifetime_seconds = lifetime_seconds
        self._secure = secure

    @staticmethod
    def anonymous(now: datetime) -> SessionData:
        return SessionData(nonce=secrets.token_urlsafe(16), issued_at=int(now.timestamp()))

    def signed_in(self, now: datetime, key_id: UUID, account_id: UUID) -> SessionData:
        """A new session (a new nonce: no token from before the sign-in stays valid), with a
        new random id for the server's record of it."""
        return replace(
            self.anonymous(now), key_id=key_id, account_id=account_id, session_id=uuid4()
        )

    def encode(self, data: SessionData) -> str:
        body: dict[str, Any] = {"n": data.nonce, "t": data.issued_at}
        if data.key_id is not None and data.account_id is not None:
            body["k"] = data.key_id.hex
            body["a"] = data.account_id.hex
        if data.acting_id is not None:
            body["x"] = data.acting_id.hex
        if data.session_id is not None:
            body["s"] = data.session_id.hex
        return self._serializer.dumps(body)

    def decode(self, raw: str | None, now: datetime) -> SessionData | None:
        """The session in a cookie, or None if there is none, it is forged or it expired."""
        if not raw:
            return None
        try:
            body = self._serializer.loads(raw)
            data = SessionData(
                nonce=str(body["n"]),
                issued_at=int(body["t"]),
                key_id=UUID(body["k"]) if "k" in body else None,
                account_id=UUID(body["a"]) if "a" in body else None,
                acting_id=UUID(body["x"]) if "x" in body else None,
                session_id=UUID(body["s"]) if "s" in body else None,
            )
        except (BadSignature, KeyError, TypeError, ValueError):
            return None
        age = now.timestamp() - data.issued_at
        if not -60 <= age < self.lifetime_seconds:  # a minute's grace for clock steps
            return None
        return data

    def csrf_token(self, data: SessionData) -> str:
        return hmac.new(self._csrf_key, data.nonce.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, data: SessionData | None, presented: str | None) -> bool:
        if data is None or not presented:
            return False
        return hmac.compare_digest(self.csrf_token(data), presented)

    def set_cookie(self, request: Request, response: Response, data: SessionData) -> None:
        secure = request.url.scheme == "https" if self._secure is None else self._secure
        response.set_cookie(
            COOKIE,
            self.encode(data),
            max_age=self.lifetime_seconds,
            path="/",
            secure=secure,
            httponly=True,
            samesite="strict",
        )
