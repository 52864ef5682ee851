"""How a caller presents an API key, for every door that takes one over HTTP (the API and
MCP): exactly one of `x-api-key: <key>` or `Authorization: Bearer <key>`."""

from __future__ import annotations

from collections.abc import Mapping

from backbeat.domain.errors import NotAuthenticated
from backbeat.services.keys import Caller
from backbeat.wiring import Backbeat


def presented_key(headers: Mapping[str, str]) -> str:
    """The key in the headers, or NotAuthenticated saying what is wrong with them."""
    api_key = headers.get("x-api-key")
    authorization = headers.get("authorization")
    if (api_key is None) == (authorization is None):
        raise NotAuthenticated("Exactly one of x-api-key or Authorization must be provided")
    if api_key is not None:
        return api_key
    assert authorization is not None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise NotAuthenticated("Authorization header with Bearer token required")
    return token


def check_key(backbeat: Backbeat, key: str) -> Caller:
    """The key's caller, or NotAuthenticated("Unauthorized") (unknown, revoked, expired)."""
    return backbeat.keys.check(key)
