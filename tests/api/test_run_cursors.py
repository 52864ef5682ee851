"""Paging cursors of /api/tasks/runs that no server gave out: a 400 on both databases, never
a 500 (times that overflow once read as UTC, NUL bytes, garbage)."""

from __future__ import annotations

import base64

import pytest
from starlette.testclient import TestClient

from tests.api.helpers import assert_error, create_task
from tests.conftest import Tenant

MESSAGE = "cursor is not a cursor this server gave out"


def encoded(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


FORGED = {
    "year 1 east of UTC (year 0 in UTC)": encoded(b"0001-01-01T00:00:00+14:00|run_a"),
    "year 9999 west of UTC (year 10000 in UTC)": encoded(b"9999-12-31T23:59:59-14:00|run_a"),
    "year 0": encoded(b"0000-01-01T00:00:00+00:00|run_a"),
    "year 10000": encoded(b"10000-01-01T00:00:00+00:00|run_a"),
    "NUL in the id": encoded(b"2026-01-05T12:00:00+00:00|run_\x00a"),
    "only a NUL for an id": encoded(b"2026-01-05T12:00:00+00:00|\x00"),
    "a NUL byte itself": "\x00",
    "NUL inside the base64": encoded(b"2026-01-05T12:00:00+00:00|run_a")[:8] + "\x00",
    "no zone": encoded(b"2026-01-05T12:00:00|run_a"),
    "no id": encoded(b"2026-01-05T12:00:00+00:00"),
    "two bars": encoded(b"2026-01-05T12:00:00+00:00|run_a|b"),
    "not UTF-8": encoded(b"\xff\xfe|\xff"),
    "not base64": "!!",
    "non-ASCII": "é",
    "a huge id": encoded(b"2026-01-05T12:00:00+00:00|run_" + b"a" * 5_000),
}


@pytest.mark.parametrize("cursor", list(FORGED.values()), ids=list(FORGED))
def test_forged_cursors_are_400(client: TestClient, alice: Tenant, cursor: str) -> None:
    create_task(client, alice)

    response = client.get("/api/tasks/runs", params={"cursor": cursor}, headers=alice.headers)

    assert_error(response, 400, MESSAGE, ["cursor"])


@pytest.mark.parametrize(
    "stamp", [b"0001-01-01T00:00:00+00:00", b"9999-12-31T23:59:59.999999+00:00"]
)
def test_the_ends_of_the_representable_range_are_still_cursors(
    client: TestClient, alice: Tenant, stamp: bytes
) -> None:
    response = client.get(
        "/api/tasks/runs", params={"cursor": encoded(stamp + b"|run_a")}, headers=alice.headers
    )

    assert response.status_code == 200, response.text
    assert response.json()["runs"] == []
