"""Fault-injection fixtures. The private PostgreSQL cluster lives in tests/faults/pg_cluster.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.pg_cluster import PgCluster, private_cluster


@pytest.fixture
def pg_cluster() -> Iterator[PgCluster]:
    """A PostgreSQL cluster of this test's own, started: stop it, restart it, cut its
    sessions; the shared server at BACKBEAT_TEST_PG_URL is never touched."""
    with private_cluster() as cluster:
        yield cluster
