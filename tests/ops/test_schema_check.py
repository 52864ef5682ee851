"""A process checks the schema at start: it refuses one older than its code, and runs on a
newer one (a rolling upgrade migrated it), saying so."""

from __future__ import annotations

import logging

import pytest

from backbeat.cli.common import ensure_schema
from backbeat.config import ConfigurationError
from backbeat.store.migrate import schema_state, upgrade
from backbeat.testing import FakeClock
from tests.conftest import make_backbeat
from tests.databases import postgres_database


def test_states(clock: FakeClock) -> None:
    with postgres_database("backbeat_schema") as url:
        backbeat = make_backbeat(url, clock)
        try:
            assert schema_state(backbeat.engine) == "empty"
            upgrade(backbeat.engine, "0001")
            assert schema_state(backbeat.engine) == "behind"
            with pytest.raises(ConfigurationError, match="run `backbeat migrate` first"):
                ensure_schema(backbeat)
            upgrade(backbeat.engine)
            assert schema_state(backbeat.engine) == "current"
            ensure_schema(backbeat)
        finally:
            backbeat.close()


def test_a_newer_schema_is_run_on_with_a_warning(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    with postgres_database("backbeat_schema") as url:
        backbeat = make_backbeat(url, clock)
        try:
            upgrade(backbeat.engine)
            with backbeat.engine.begin() as connection:
                connection.exec_driver_sql("UPDATE alembic_version SET version_num = '0099'")
            assert schema_state(backbeat.engine) == "ahead"
            with caplog.at_level(logging.WARNING):
                ensure_schema(backbeat)  # does not raise
            [record] = [r for r in caplog.records if getattr(r, "event", "") == "schema.newer"]
            assert getattr(record, "revision", None) == "0099"
        finally:
            backbeat.close()
