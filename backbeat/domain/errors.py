"""Errors the core raises. The API maps each kind to an HTTP status; messages are for people."""

from __future__ import annotations


class BackbeatError(Exception):
    """Base of every error that carries a message meant for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(BackbeatError):
    """The request is malformed. `path` names the first failing field ([] for the whole body)."""

    def __init__(self, message: str, path: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.path: list[str | int] = path if path is not None else []


class MalformedBody(BackbeatError):
    """The body is not JSON at all (no field to point at)."""


class BodyTooLarge(BackbeatError):
    """The body exceeds the configured limit."""


class NotAuthenticated(BackbeatError):
    """Credentials are missing, malformed, unknown, revoked or expired."""


class AccessDenied(BackbeatError):
    """The caller is authenticated but may not act on this account, task, artist or run."""


class NotFound(BackbeatError):
    """The thing asked for does not exist (or is not visible to the caller)."""


class Conflict(BackbeatError):
    """The request cannot be carried out in the thing's current state."""


class ConcurrentChange(Conflict):
    """Another process changed the same thing first, and the database refused this change
    (a unique key held): nothing was written; looking again later is the answer."""
