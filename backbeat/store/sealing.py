"""Secrets at rest (domain.ports.SecretBox): AES-256-GCM under a key derived from the server
secret with HKDF-SHA256, so that a database dump alone reveals no signing secret.

Sealed text is `v1.` + base64url(nonce ‖ ciphertext ‖ tag); the version leaves room to move
to another key or cipher later.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1."
_INFO = b"backbeat sealed secrets v1"
_NONCE_BYTES = 12


class SealedSecretError(Exception):
    """A sealed secret could not be opened: another server secret, or a damaged value."""


class AesSecretBox:
    def __init__(self, server_secret: Callable[[], bytes]) -> None:
        # A callable: `serve` on SQLite may create the server secret after wiring.
        self._server_secret = server_secret
        self._cipher: tuple[bytes, AESGCM] | None = None

    def follow(self, server_secret: Callable[[], bytes]) -> None:
        """Read the server secret from here from now on (the wired Backbeat's settings)."""
        self._server_secret = server_secret

    def _aes(self) -> AESGCM:
        secret = self._server_secret()
        if self._cipher is None or self._cipher[0] != secret:
            key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret)
            self._cipher = (secret, AESGCM(key))
        return self._cipher[1]

    def seal(self, plain: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aes().encrypt(nonce, plain.encode(), None)
        return VERSION + base64.urlsafe_b64encode(sealed).decode()

    def open(self, sealed: str) -> str:
        if not sealed.startswith(VERSION):
            raise SealedSecretError("not a sealed secret")
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(VERSION))
            nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aes().decrypt(nonce, body, None).decode()
        except Exception as exc:  # InvalidTag, bad base64, bad UTF-8: all the same to callers
            raise SealedSecretError(
                "the sealed secret does not open with this server secret"
            ) from exc
