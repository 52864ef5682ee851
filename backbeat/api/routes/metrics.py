"""GET /metrics: Prometheus text (or OpenMetrics, when the scraper asks for it).

No authentication and no tenant data: counts by trigger, status, failure kind, provider and
model, route template; never an id, a prompt or an address. What is counted is described in
backbeat.metrics; the queue gauges are read from the database here, at each scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from fastapi import APIRouter
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from backbeat import metrics
from backbeat.domain.runs import CLAIMABLE_STATUSES, RunStatus
from backbeat.edge.context import backbeat
from backbeat.store.tables import runs
from backbeat.wiring import Backbeat

log = logging.getLogger("backbeat.api")

router = APIRouter(tags=["operations"])

_WAITING = [status.value for status in CLAIMABLE_STATUSES]


class QueueCollector:
    """Queued and executing runs, from the database: right however many processes run.

    Two queries on partial indexes (ix_runs_claimable, ix_runs_leases). When the database
    does not answer, the gauges are left out of the scrape (and a warning logged) rather
    than failing the whole of it.
    """

    def __init__(self, app: Backbeat) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        now = self._app.clock.now()
        try:
            with self._app.uow() as uow:
                queued, oldest = uow.connection.execute(
                    select(func.count(), func.min(runs.c.available_at)).where(
                        runs.c.status.in_(_WAITING), runs.c.available_at <= now
                    )
                ).one()
                executing = uow.connection.execute(
                    select(func.count()).where(runs.c.status == RunStatus.EXECUTING.value)
                ).scalar_one()
        except SQLAlchemyError as exc:
            log.warning(
                "metrics: the database did not answer; queue gauges left out",
                extra={"event": "metrics.db_error", "error": str(exc)[:200]},
            )
            return
        yield GaugeMetricFamily(
            "backbeat_runs_queued",
            "Runs waiting for a worker now (QUEUED or REATTEMPTING, due).",
            value=int(queued),
        )
        age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        yield GaugeMetricFamily(
            "backbeat_runs_oldest_queued_age_seconds",
            "How long the longest-waiting due run has been waiting (0 when none is).",
            value=age,
        )
        yield GaugeMetricFamily(
            "backbeat_runs_executing", "Runs executing now.", value=int(executing)
        )


@router.get("/metrics", include_in_schema=False)
def scrape(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    sources = metrics.current().collectors()
    body = encoder(metrics.Scrape(*sources, QueueCollector(backbeat(request))))
    return Response(body, media_type=content_type)
