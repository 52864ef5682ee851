"""The mark on everything Backbeat serves beyond the Recoup contract (fields, operations,
parameters): `x-backbeat-extension: true` in the served OpenAPI document, which
tests/api/test_openapi_agreement.py requires of whatever the contract does not name."""

from __future__ import annotations

from typing import Any

EXTENSION: dict[str, Any] = {"x-backbeat-extension": True}
