"""What a process runs beside (or instead of) the API: a scheduler thread and a worker
thread with its own event loop. `serve` runs both; `scheduler` and `worker` run one."""

from __future__ import annotations

import asyncio
import logging
import threading

from backbeat.agents.routing import configured_providers
from backbeat.config import Settings
from backbeat.scheduler.loop import SchedulerLoop
from backbeat.wiring import Backbeat, build_worker

log = logging.getLogger("backbeat")


def provider_notice(settings: Settings) -> str:
    """One line on start-up saying which model providers runs can use."""
    providers = configured_providers(settings)
    if providers:
        return f"Model providers: {', '.join(providers)}; default model {settings.default_model}"
    return (
        "No model provider is configured: runs will end in SYSTEM_FAILURE until you set "
        "BACKBEAT_ANTHROPIC_API_KEY, BACKBEAT_OPENAI_API_KEY or BACKBEAT_COMPATIBLE_BASE_URL"
    )


class Background:
    def __init__(self, backbeat: Backbeat, *, scheduler: bool = True, worker: bool = True) -> None:
        self._threads: list[threading.Thread] = []
        self.scheduler_loop: SchedulerLoop | None = None
        self.worker = None
        if scheduler:
            self.scheduler_loop = SchedulerLoop(
                backbeat.scheduler,
                backbeat.clock,
                backbeat.schedule_changed,
                on_runs_created=backbeat.runs_queued,
            )
            self._threads.append(
                threading.Thread(target=self.scheduler_loop.run, name="scheduler", daemon=True)
            )
        if worker:
            self.worker = build_worker(backbeat)
            worker_ = self.worker
            self._threads.append(
                threading.Thread(
                    target=lambda: asyncio.run(worker_.run()), name="worker", daemon=True
                )
            )
        self._grace = backbeat.settings.shutdown_grace_seconds

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Ask each to stop, then wait: the scheduler finishes its tick, the worker drains."""
        if self.scheduler_loop is not None:
            self.scheduler_loop.stop()
        if self.worker is not None:
            self.worker.stop()
        for thread in self._threads:
            thread.join(timeout=self._grace + 15)
            if thread.is_alive():
                log.error("%s did not stop in time", thread.name, extra={"event": "process.stuck"})
