"""Probes for load balancers and orchestrators: `GET /healthz` and `GET /readyz`.

No authentication, and nothing about any tenant: a liveness answer, and whether the
database answers with its schema at head. /readyz answers within READY_DEADLINE seconds
whatever the database does (a hung server, a black-holed address): the check runs on a
thread of its own, with a connect and a statement timeout, and concurrent requests share
the check in progress instead of piling up threads behind a stuck database.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import Future

from fastapi import APIRouter
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import Response

from backbeat.config import Settings
from backbeat.edge.context import backbeat
from backbeat.edge.extension import EXTENSION
from backbeat.edge.responses import JSON
from backbeat.ops import database
from backbeat.ops.database import Checks

log = logging.getLogger("backbeat.api")

router = APIRouter(tags=["operations"])

READY_TIMEOUT = 2.0  # seconds: connecting to the database, and each statement
READY_DEADLINE = 3.0  # seconds: /readyz answers within this, whatever the database does
NO_STORE = {"cache-control": "no-store"}

Outcome = tuple[Checks, str]  # the checks, and the driver's words for the log


class Readiness:
    """The readiness check of one app: fresh connections, bounded time, one at a time."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        # SQLite: the app's own engine (an in-memory database exists only on it). PostgreSQL:
        # an unpooled one with a connect timeout, so that each check connects afresh.
        self._engine = (
            engine
            if settings.is_sqlite
            else database.probe_engine(settings.database_url, READY_TIMEOUT)
        )
        self._lock = threading.Lock()
        self._running: Future[Outcome] | None = None
        self._ready: bool | None = None

    async def check(self) -> tuple[bool, Checks]:
        running = asyncio.wrap_future(self._start())
        done, _ = await asyncio.wait({running}, timeout=READY_DEADLINE)
        if done:
            checks, detail = running.result()
        else:
            checks = {
                "database": f"not answering: no answer within {READY_DEADLINE:g} s",
                "migrations": "not checked",
            }
            detail = "the check is still running"
        ready = all(_fine(value) for value in checks.values())
        self._note(ready, checks, detail)
        return ready, checks

    def _start(self) -> Future[Outcome]:
        """The check in progress, or a new one on its own (daemon) thread."""
        with self._lock:
            if self._running is not None and not self._running.done():
                return self._running
            future: Future[Outcome] = Future()
            future.set_running_or_notify_cancel()  # cannot be cancelled: the thread sets it
            self._running = future

        def run() -> None:
            try:
                future.set_result(self._checks())
            except BaseException as exc:  # pragma: no cover - _checks catches what it can
                future.set_exception(exc)

        threading.Thread(target=run, name="readiness-check", daemon=True).start()
        return future

    def _checks(self) -> Outcome:
        return database.readiness(self._engine, READY_TIMEOUT)

    def _note(self, ready: bool, checks: Checks, detail: str) -> None:
        """Log when readiness changes (not on every poll); the details go to the log only."""
        if ready == self._ready:
            return
        self._ready = ready
        if ready:
            log.info("ready", extra={"event": "readiness.ready"})
        else:
            log.warning(
                "not ready: %s",
                "; ".join(f"{name}: {value}" for name, value in checks.items() if not _fine(value)),
                extra={"event": "readiness.not_ready", "detail": detail},
            )


def _fine(check: str) -> bool:
    """A check that passed: "ok", or "ok (…)" with a note (a newer schema, say)."""
    return check == "ok" or check.startswith("ok (")


def _readiness(request: Request) -> Readiness:
    state = request.app.state
    readiness: Readiness | None = getattr(state, "readiness", None)
    if readiness is None:
        app = backbeat(request)
        readiness = state.readiness = Readiness(app.settings, app.engine)
    return readiness


@router.get(
    "/healthz",
    operation_id="healthz",
    openapi_extra=EXTENSION,
    summary="Liveness: 200 while the process is alive",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
)
async def healthz() -> Response:
    # `async`: answered on the event loop, even when every worker thread is busy.
    return JSON({"status": "ok"}, headers=NO_STORE)


@router.get(
    "/readyz",
    operation_id="readyz",
    openapi_extra=EXTENSION,
    summary="Readiness: 200 when the database answers and its schema is at head, else 503",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "status": "ready",
                        "checks": {"database": "ok", "migrations": "ok"},
                    }
                }
            }
        },
        503: {
            "description": "Not ready: each check says what is wrong",
            "content": {
                "application/json": {
                    "example": {
                        "status": "not ready",
                        "checks": {
                            "database": "ok",
                            "migrations": "at 0002, head is 0003: run backbeat migrate",
                        },
                    }
                }
            },
        },
    },
)
async def readyz(request: Request) -> Response:
    ready, checks = await _readiness(request).check()
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return JSON(body, status_code=200 if ready else 503, headers=NO_STORE)


# HEAD too (some load balancers probe with it), kept out of the OpenAPI document.
router.add_api_route("/healthz", healthz, methods=["HEAD"], include_in_schema=False)
router.add_api_route("/readyz", readyz, methods=["HEAD"], include_in_schema=False)
