"""GET /metrics, scraped over HTTP: what a scripted day of scheduling and running counts,
the queue gauges read from the database, HTTP labels, bounded labels, and several
processes adding up into one scrape."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount
from starlette.routing import Route as StarletteRoute
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from backbeat.agents.base import Usage
from backbeat.agents.pricing import cost_in_cents
from backbeat.agents.routing import Route
from backbeat.asgi import create_app
from backbeat.domain.failures import AttemptFailed, FailureKind
from backbeat.domain.models import Run
from backbeat.domain.runs import RunStatus
from backbeat.edge.middleware import MetricsMiddleware
from backbeat.ops import metrics
from backbeat.services.keys import Caller
from backbeat.testing import FakeClock
from backbeat.testing.fake_provider import ScriptedProvider, reply, tool_call
from backbeat.wiring import Backbeat
from tests.conftest import Tenant
from tests.processes import clean_env
from tests.worker.harness import make_harness, run

Labels = dict[str, str]


@pytest.fixture(autouse=True)
def in_memory_after() -> Iterator[None]:
    """A test that puts this process in multiprocess mode leaves it in memory again. (Each
    wired Backbeat counts from zero into metrics of its own.)"""
    yield
    metrics.configure(None)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Scraped:
    """One /metrics answer, parsed."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, Labels, float]] = [
            (sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        found = [v for n, ls, v in self.samples if n == name and ls == labels]
        assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
        return found[0]

    def labels_of(self, name: str) -> list[Labels]:
        return [ls for n, ls, _ in self.samples if n == name]


def scrape(client: TestClient) -> Scraped:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    return Scraped(answer.text)


def caller_of(backbeat: Backbeat, tenant: Tenant) -> Caller:
    return Caller(tenant.account_id, tenant.key_id(backbeat))


def runs_of(backbeat: Backbeat, task_id: UUID) -> list[Run]:
    with backbeat.engine.connect() as connection:
        ids = connection.exec_driver_sql("SELECT id FROM runs ORDER BY created_at").scalars().all()
    with backbeat.uow() as uow:
        found = [uow.runs.get(run_id) for run_id in ids]
    return [r for r in found if r is not None and r.task_id == task_id]


def queued_run_ids(backbeat: Backbeat, tenant: Tenant) -> list[str]:
    page = backbeat.runs.list_runs(caller_of(backbeat, tenant), limit=50, status=RunStatus.QUEUED)
    return [r.id for r in page.runs]


def test_a_scripted_day_is_counted(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, client: TestClient
) -> None:
    provider = ScriptedProvider(
        AttemptFailed(FailureKind.SERVER, "HTTP 503 from the provider"),  # the fire, 1st try
        reply("Synthpop is rising.", tokens=(1200, 300)),  # … and its retry
        tool_call(  # the manual run emails the owner and someone it may not
            "send_email",
            {
                "to": ["alice@example.com", "mallory@evil.example"],
                "subject": "Pulse",
                "body": "Numbers are up.",
            },
        ),
        reply("Sent."),
    )
    h = make_harness(backbeat, clock, provider)
    pulse = h.new_task(alice, schedule="0 9 * * *")
    digest = h.new_task(alice, schedule="30 9 * * *")

    # A fire on time, 250 ms after its fire time; it fails once (retryable), then completes.
    clock.set(at("2026-01-06T09:00:00.250Z"))
    assert backbeat.scheduler.tick(clock.now()).runs_created == 1
    assert run(h.work()) == 1
    [fired] = runs_of(backbeat, pulse)
    assert fired.status is RunStatus.REATTEMPTING
    assert fired.delayed_until is not None
    clock.set(fired.delayed_until)
    assert run(h.work()) == 1
    assert h.get(fired.id).status is RunStatus.COMPLETED

    # Two days of downtime: each task skips its older fires and catches up its latest.
    clock.set(at("2026-01-08T09:40:00Z"))
    report = backbeat.scheduler.tick(clock.now())
    assert (report.runs_created, report.late_runs, report.skipped) == (2, 2, 3)
    for run_id in queued_run_ids(backbeat, alice):  # nobody wants yesterday's news
        backbeat.runs.cancel(caller_of(backbeat, alice), run_id)

    # Run now: one email sent, one refused.
    manual = h.run_now(alice, pulse)
    assert run(h.work()) == 1
    done = h.get(manual.id)
    assert done.status is RunStatus.COMPLETED
    assert h.mailer.recipients == ["alice@example.com"]

    m = scrape(client)
    assert m.value("backbeat_runs_created_total", trigger="scheduled") == 1
    assert m.value("backbeat_runs_created_total", trigger="catch_up") == 2
    assert m.value("backbeat_runs_created_total", trigger="manual") == 1
    assert m.value("backbeat_runs_finished_total", status="COMPLETED") == 2
    assert m.value("backbeat_runs_finished_total", status="CANCELED") == 2
    for status in ("FAILED", "CRASHED", "SYSTEM_FAILURE"):
        assert m.value("backbeat_runs_finished_total", status=status) == 0
    assert m.value("backbeat_attempts_retried_total", kind="server") == 1
    assert m.value("backbeat_attempts_retried_total", kind="worker_crashed") == 0
    assert m.value("backbeat_fires_skipped_total") == 3

    # Fire lag: 0.25 s on time, then 40 and 10 minutes late.
    assert m.value("backbeat_fire_lag_seconds_count") == 3
    assert m.value("backbeat_fire_lag_seconds_sum") == pytest.approx(0.25 + 2400 + 600)
    assert m.value("backbeat_fire_lag_seconds_bucket", le="0.1") == 0
    assert m.value("backbeat_fire_lag_seconds_bucket", le="0.25") == 1
    assert m.value("backbeat_fire_lag_seconds_bucket", le="600.0") == 2
    assert m.value("backbeat_fire_lag_seconds_bucket", le="1800.0") == 2
    assert m.value("backbeat_fire_lag_seconds_bucket", le="3600.0") == 3
    assert m.value("backbeat_fire_lag_seconds_bucket", le="+Inf") == 3

    assert m.value("backbeat_scheduler_ticks_total") == 2
    assert m.value("backbeat_scheduler_tick_duration_seconds_count") == 2
    assert m.value("backbeat_scheduler_tick_duration_seconds_sum") > 0

    # Tokens and cost: the retry's one request, and the manual run's two.
    model = {"provider": "anthropic", "model": "claude-sonnet-4-5"}
    assert m.value("backbeat_model_tokens_total", **model, direction="input") == 1200 + 200
    assert m.value("backbeat_model_tokens_total", **model, direction="output") == 300 + 40
    route = Route("anthropic", "claude-sonnet-4-5")
    expected = (cost_in_cents(route, Usage(1200, 300, 1)) or 0) + (
        cost_in_cents(route, Usage(200, 40, 2)) or 0
    )
    assert expected > 0
    assert m.value("backbeat_model_cost_cents_total", **model) == pytest.approx(expected)

    assert m.value("backbeat_emails_sent_total") == 1
    assert m.value("backbeat_emails_refused_total") == 1
    assert m.value("backbeat_lease_takeovers_total") == 0

    # Everything has finished: nothing waits, nothing runs.
    assert m.value("backbeat_runs_queued") == 0
    assert m.value("backbeat_runs_executing") == 0
    assert m.value("backbeat_runs_oldest_queued_age_seconds") == 0

    # No id, prompt or address in the scrape.
    for secret in (str(pulse), str(digest), manual.id, "alice@", "mallory@", "Analyse genre"):
        assert secret not in m.text


def test_the_queue_gauges_read_the_database(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, client: TestClient
) -> None:
    h = make_harness(backbeat, clock, lease=timedelta(seconds=30))
    t0 = clock.now()
    first = h.run_now(alice, h.new_task(alice))  # queued at t0
    clock.advance(seconds=10)
    second = h.run_now(alice, h.new_task(alice))  # queued at t0 + 10 s
    clock.advance(seconds=35)

    m = scrape(client)
    assert m.value("backbeat_runs_queued") == 2
    assert m.value("backbeat_runs_executing") == 0
    assert m.value("backbeat_runs_oldest_queued_age_seconds") == 45

    # A worker that then dies takes the older one.
    [claim] = h.queue.claim("doomed-worker", 1)
    assert claim.run.id == first.id
    m = scrape(client)
    assert m.value("backbeat_runs_queued") == 1
    assert m.value("backbeat_runs_executing") == 1
    assert m.value("backbeat_runs_oldest_queued_age_seconds") == 35
    assert second.available_at == t0 + timedelta(seconds=10)

    # Its lease expires; another worker takes the run back (then runs the other one).
    clock.advance(seconds=31)
    assert run(h.work()) == 1  # reaped `first`, ran `second`; `first` waits for its backoff
    back = h.get(first.id)
    assert back.status is RunStatus.REATTEMPTING
    assert back.available_at is not None
    assert back.available_at > clock.now()

    m = scrape(client)
    assert m.value("backbeat_lease_takeovers_total") == 1
    assert m.value("backbeat_attempts_retried_total", kind="worker_crashed") == 1
    assert m.value("backbeat_runs_finished_total", status="COMPLETED") == 1
    assert m.value("backbeat_runs_queued") == 0  # not due yet: not counted
    assert m.value("backbeat_runs_executing") == 0
    assert m.value("backbeat_runs_oldest_queued_age_seconds") == 0

    clock.set(back.available_at + timedelta(seconds=7))
    m = scrape(client)
    assert m.value("backbeat_runs_queued") == 1
    assert m.value("backbeat_runs_oldest_queued_age_seconds") == 7


def test_http_requests_are_labelled_by_route_template_never_by_path(
    backbeat: Backbeat, alice: Tenant, client: TestClient
) -> None:
    task_id = "5f0c7d7e-1234-4bcd-9abc-0123456789ab"
    assert client.get("/api/tasks", headers=alice.headers).status_code == 200
    assert client.get("/api/tasks", headers=alice.headers).status_code == 200
    runs_url = "/api/tasks/runs?runId=run_cm1secretid0001"
    assert client.get(runs_url, headers=alice.headers).status_code == 404
    assert client.get(f"/api/tasks/{task_id}", headers=alice.headers).status_code == 404
    assert client.get(f"/no/such/{task_id}").status_code == 404
    assert client.delete("/api/tasks/runs", headers=alice.headers).status_code == 405
    assert client.options("/api/tasks").status_code == 200  # a CORS preflight
    assert client.request("BREW", "/api/tasks").status_code == 405
    big = b"x" * (backbeat.settings.max_body_bytes + 1)
    assert client.post("/api/tasks", content=big, headers=alice.headers).status_code == 413
    assert client.get("/api/tasks").status_code == 401
    scrape(client)  # counted in the next one

    m = scrape(client)
    counts = {
        (ls["route"], ls["method"], ls["status"]): m.value("backbeat_http_requests_total", **ls)
        for ls in m.labels_of("backbeat_http_requests_total")
    }
    assert counts == {
        ("/api/tasks", "GET", "200"): 2,
        ("/api/tasks/runs", "GET", "404"): 1,
        ("other", "GET", "404"): 2,
        ("/api/tasks/runs", "DELETE", "405"): 1,
        ("/api/tasks", "OPTIONS", "200"): 1,
        ("/api/tasks", "other", "405"): 1,
        ("/api/tasks", "POST", "413"): 1,
        ("/api/tasks", "GET", "401"): 1,
        ("/metrics", "GET", "200"): 1,
    }
    assert (
        m.value("backbeat_http_request_duration_seconds_count", route="/api/tasks", method="GET")
        == 3
    )
    assert (
        m.value("backbeat_http_request_duration_seconds_sum", route="/api/tasks", method="GET") > 0
    )
    for leak in (task_id, "run_cm1secretid0001", "/no/such", alice.key, "alice@"):
        assert leak not in m.text


def test_models_the_price_table_does_not_know_are_other(
    backbeat: Backbeat, clock: FakeClock, alice: Tenant, client: TestClient
) -> None:
    tokens = (1000, 100)
    provider = ScriptedProvider(default=reply("ok", tokens=tokens))
    h = make_harness(backbeat, clock, provider, default_model="claude-house-model-1")
    for model in (
        "claude-house-model-1",
        "claude-private-7",
        "claude-private-8",
        "claude-sonnet-4-5",
    ):
        h.run_now(alice, h.new_task(alice, model=model))
        assert run(h.work()) == 1

    m = scrape(client)
    series = {
        (ls["provider"], ls["model"], ls["direction"]): m.value("backbeat_model_tokens_total", **ls)
        for ls in m.labels_of("backbeat_model_tokens_total")
    }
    assert series == {
        # The configured default keeps its name, priced or not.
        ("anthropic", "claude-house-model-1", "input"): 1000,
        ("anthropic", "claude-house-model-1", "output"): 100,
        # Unpriced models named by tasks share one series.
        ("anthropic", "other", "input"): 2000,
        ("anthropic", "other", "output"): 200,
        ("anthropic", "claude-sonnet-4-5", "input"): 1000,
        ("anthropic", "claude-sonnet-4-5", "output"): 100,
    }
    # Cost only where the price is known.
    assert m.labels_of("backbeat_model_cost_cents_total") == [
        {"provider": "anthropic", "model": "claude-sonnet-4-5"}
    ]
    assert "claude-private" not in m.text


def test_a_route_with_parameters_or_a_mount_is_labelled_by_its_template() -> None:
    async def thing(request: Request) -> Response:
        return PlainTextResponse(request.path_params["thing_id"])

    async def files(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("file")(scope, receive, send)

    recorder = metrics.Metrics()
    app = Starlette(
        routes=[StarletteRoute("/things/{thing_id}", thing), Mount("/files", app=files)],
        middleware=[Middleware(MetricsMiddleware, metrics=recorder)],
    )
    with TestClient(app) as client:
        assert client.get("/things/t-123").text == "t-123"
        assert client.get("/things/t-456").status_code == 200
        assert client.post("/things/t-789").status_code == 405
        assert client.get("/files/a/b/secret.txt").status_code == 200
        assert client.get("/elsewhere/t-1").status_code == 404

    recorded = recorder.http_requests
    seen = {
        (s.labels["route"], s.labels["method"], s.labels["status"]): s.value
        for family in recorded.collect()
        for s in family.samples
    }
    assert seen == {
        ("/things/{thing_id}", "GET", "200"): 2,
        ("/things/{thing_id}", "POST", "405"): 1,
        ("/files/{path}", "GET", "200"): 1,  # a mounted app: its mount point
        ("other", "GET", "404"): 1,
    }


RECORDER = """
import sys
from backbeat.ops import metrics
from backbeat.config import Settings
from backbeat.domain.runs import RunStatus, Trigger

recorder = metrics.configure(Settings().metrics_dir)
count = int(sys.argv[1])
recorder.run_created(Trigger.MANUAL, count)
recorder.run_finished(RunStatus.COMPLETED)
recorder.fires_dispatched([0.5] * count, skipped=1)
recorder.http_request("/api/tasks", "GET", 200, 0.01)
"""


def record_in_another_process(directory: Path, count: int) -> None:
    env = clean_env(BACKBEAT_METRICS_DIR=str(directory))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    done = subprocess.run(
        [sys.executable, "-c", RECORDER, str(count)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_processes_sharing_a_metrics_dir_add_up_in_one_scrape(
    tmp_path: Path, sqlite_url: str, clock: FakeClock
) -> None:
    from tests.conftest import make_backbeat

    directory = tmp_path / "metrics"
    served = metrics.configure(directory)  # this process serves the API
    backbeat = make_backbeat(sqlite_url, clock, metrics=served, metrics_dir=directory)
    try:
        record_in_another_process(directory, 2)  # say, a scheduler
        record_in_another_process(directory, 3)  # and a worker
        with TestClient(create_app(backbeat)) as client:
            m = scrape(client)
            assert m.value("backbeat_runs_created_total", trigger="manual") == 5
            assert m.value("backbeat_runs_created_total", trigger="scheduled") == 0
            assert m.value("backbeat_runs_finished_total", status="COMPLETED") == 2
            assert m.value("backbeat_fires_skipped_total") == 2
            assert m.value("backbeat_fire_lag_seconds_count") == 5
            assert m.value("backbeat_fire_lag_seconds_sum") == 2.5
            assert m.value("backbeat_fire_lag_seconds_bucket", le="0.5") == 5
            http = {"route": "/api/tasks", "method": "GET", "status": "200"}
            assert m.value("backbeat_http_requests_total", **http) == 2
            # The database gauges come once, from this process, never summed per process.
            assert m.labels_of("backbeat_runs_queued") == [{}]
            assert m.value("backbeat_runs_queued") == 0

        # The API process restarts: the exited processes' files are folded into an
        # archive and removed, and no counter goes backwards.
        backbeat.close()
        restarted = metrics.configure(directory)
        backbeat = make_backbeat(sqlite_url, clock, metrics=restarted, metrics_dir=directory)
        names = sorted(path.name for path in directory.glob("*.db"))
        mine = os.getpid()
        assert names == sorted(
            [
                "counter_archive.db",
                "histogram_archive.db",
                f"counter_{mine}.db",
                f"histogram_{mine}.db",
            ]
        )
        record_in_another_process(directory, 1)
        with TestClient(create_app(backbeat)) as client:
            m = scrape(client)
            assert m.value("backbeat_runs_created_total", trigger="manual") == 6
            assert m.value("backbeat_runs_finished_total", status="COMPLETED") == 3
            assert m.value("backbeat_fire_lag_seconds_count") == 6
            assert m.value("backbeat_fire_lag_seconds_bucket", le="+Inf") == 6
            assert m.value("backbeat_fire_lag_seconds_sum") == 3.0
            assert m.value("backbeat_http_requests_total", **http) == 3
            scraped = {"route": "/metrics", "method": "GET", "status": "200"}
            assert m.value("backbeat_http_requests_total", **scraped) == 1
    finally:
        backbeat.close()


def test_a_scheduler_process_counts_into_the_api_process_scrape(
    tmp_path: Path, sqlite_url: str, clock: FakeClock
) -> None:
    """`backbeat scheduler` with BACKBEAT_METRICS_DIR set: its ticks show in this process's
    /metrics (the CLI configures multiprocess mode before anything records)."""
    from tests.conftest import make_backbeat

    directory = tmp_path / "metrics"
    served = metrics.configure(directory)
    backbeat = make_backbeat(sqlite_url, clock, metrics=served, metrics_dir=directory)
    env = clean_env(BACKBEAT_DATABASE_URL=sqlite_url, BACKBEAT_METRICS_DIR=str(directory))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "backbeat", "scheduler"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        with TestClient(create_app(backbeat)) as client:
            deadline = time.monotonic() + 30
            ticks = 0.0
            while ticks < 1 and time.monotonic() < deadline:
                assert scheduler.poll() is None, scheduler.stderr and scheduler.stderr.read()
                ticks = scrape(client).value("backbeat_scheduler_ticks_total")
                time.sleep(0.1)
            assert ticks >= 1
            assert f"counter_{scheduler.pid}.db" in os.listdir(directory)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        assert scheduler.wait(timeout=30) == 0
        backbeat.close()


def test_openmetrics_when_the_scraper_asks_for_it(client: TestClient) -> None:
    from prometheus_client.openmetrics.parser import (
        text_string_to_metric_families as openmetrics_families,
    )

    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    answer = client.get("/metrics", headers={"accept": accept})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    names = {family.name for family in openmetrics_families(answer.text)}
    assert {"backbeat_runs_created", "backbeat_fire_lag_seconds", "backbeat_runs_queued"} <= names


def test_without_the_database_the_counters_are_still_served(
    tmp_path: Path, clock: FakeClock
) -> None:
    from tests.conftest import make_backbeat

    gone = make_backbeat(f"sqlite:///{tmp_path}/no/such/dir/backbeat.db", clock)
    try:
        with TestClient(create_app(gone)) as client:
            m = scrape(client)
        assert m.labels_of("backbeat_runs_queued") == []  # left out, not a made-up zero
        assert m.value("backbeat_runs_created_total", trigger="manual") == 0
    finally:
        gone.close()
