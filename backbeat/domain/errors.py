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


class DatabaseUnavailable(Exception):
    """The database cannot be used right now: it is down or restarting, the session was cut,
    a lock or statement timed out, or no pooled connection came free in time. The store
    raises it in place of its driver's errors; trying again later is the answer.

    Not a BackbeatError: it says nothing about the caller's request, and the doors that map
    every BackbeatError to a refusal (a 4xx, a tool error, a CLI exit 1) must answer it as an
    outage (503 with Retry-After, exit 2) instead. `reason` is the first line of the driver's
    own message; `orig` the driver's exception (None when there was none, as for a pool
    timeout), where the database checks read what went wrong."""

    def __init__(self, reason: str, orig: BaseException | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.orig = orig
