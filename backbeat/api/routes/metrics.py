"""GET /metrics: Prometheus text (or OpenMetrics, when the scraper asks for it).

No authentication and no tenant data: counts by trigger, status, failure kind, provider and
model, route template; never an id, a prompt or an address. What is counted is described in
backbeat.ops.metrics; the queue gauges are read from the database (StatsService) at each scrape.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from fastapi import APIRouter
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from backbeat.domain.errors import DatabaseUnavailable
from backbeat.edge.context import backbeat
from backbeat.ops import metrics
from backbeat.wiring import Backbeat

log = logging.getLogger("backbeat.api")

router = APIRouter(tags=["operations"])


class QueueCollector:
    """Queued and executing runs, from the database: right however many processes run.

    When the database does not answer, the gauges are left out of the scrape (and a warning
    logged) rather than failing the whole of it.
    """

    def __init__(self, app: Backbeat) -> None:
        self._app = app

    def collect(self) -> Iterator[Metric]:
        try:
            queue = self._app.stats.queue()
        except (DatabaseUnavailable, SQLAlchemyError) as exc:
            log.warning(
                "metrics: the database did not answer; queue gauges left out",
                extra={"event": "metrics.db_error", "error": str(exc)[:200]},
            )
            return
        yield GaugeMetricFamily(
            "backbeat_runs_queued",
            "Runs waiting for a worker now (QUEUED or REATTEMPTING, due).",
            value=queue.queued,
        )
        yield GaugeMetricFamily(
            "backbeat_runs_oldest_queued_age_seconds",
            "How long the longest-waiting due run has been waiting (0 when none is).",
            value=queue.oldest_queued_age_seconds,
        )
        yield GaugeMetricFamily(
            "backbeat_runs_executing", "Runs executing now.", value=queue.executing
        )


@router.get("/metrics", include_in_schema=False)
def scrape(request: Request) -> Response:
    encoder, content_type = choose_encoder(request.headers.get("accept", ""))
    sources = backbeat(request).metrics.collectors()
    body = encoder(metrics.Scrape(*sources, QueueCollector(backbeat(request))))
    return Response(body, media_type=content_type)
