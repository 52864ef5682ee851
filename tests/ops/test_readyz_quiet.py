"""GET /readyz does not log: a load balancer probes it every few seconds, and each probe used
to write two INFO lines from the migration library (Alembic's "Context impl …" and "Will
assume … DDL"). Only a change of readiness is logged, once."""

from __future__ import annotations

import logging

import pytest
from starlette.testclient import TestClient

from backbeat.asgi import create_app
from backbeat.testing import FakeClock
from tests.conftest import make_backbeat

PROBES = 25


def test_readyz_probes_write_no_log_line(
    db_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    backbeat = make_backbeat(db_url, clock)
    try:
        with TestClient(create_app(backbeat), raise_server_exceptions=False) as client:
            caplog.clear()
            with caplog.at_level(logging.INFO):
                for _ in range(PROBES):
                    assert client.get("/readyz").status_code == 200
    finally:
        backbeat.close()
    from_migrations = [r for r in caplog.records if r.name.startswith("alembic")]
    assert from_migrations == [], f"{len(from_migrations)} lines for {PROBES} probes"
    ours = [r for r in caplog.records if r.name.startswith("backbeat")]
    assert [getattr(r, "event", None) for r in ours] == ["readiness.ready"]
